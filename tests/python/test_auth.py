"""`--auth`: the server checks credentials as AWS, OpenAI and Anthropic do, and each real client
raises the exception its service's rejection maps to (botocore `ClientError` codes, the JS SDK's
named exceptions, `openai.AuthenticationError`, `anthropic.AuthenticationError`)."""
import datetime
import json
import subprocess
import urllib.error
import urllib.request

import anthropic
import boto3
import botocore.auth
import openai
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import FIXTURES, Server, run_node, self_signed_cert

AKID, SECRET = "AKIAMOCKMODELTEST01", "mockmodel/secret+key/for+tests0000000000"
BEDROCK_KEY = "ABSKbW9ja21vZGVsLXRlc3Qta2V5"
OPENAI_KEY = "sk-proj-mockmodel-test-key-0001"
ANTHROPIC_KEY = "sk-ant-api03-mockmodel-test-key"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
HELLO = [{"role": "user", "content": [{"text": "hello"}]}]


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    # botocore sends a Bedrock API key only over HTTPS ("Bearer authorization requires an HTTPS
    # endpoint"): the server also listens with TLS (--tls-port), self-signed for 127.0.0.1.
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory, cert):
    creds = tmp_path_factory.mktemp("auth") / "credentials.yaml"
    creds.write_text(
        json.dumps(
            {
                "aws": [{"accessKeyId": AKID, "secretAccessKey": SECRET}],
                "bedrockApiKeys": [BEDROCK_KEY],
                "openaiApiKeys": [OPENAI_KEY],
                "anthropicApiKeys": [ANTHROPIC_KEY],
            }
        )
    )
    s = Server(
        "--fixtures", str(FIXTURES), "--auth", str(creds), "--tls-cert", cert[0], "--tls-key", cert[1], "--tls-port", "0"
    )
    assert s.url.startswith("http://") and s.tls_url.startswith("https://")
    yield s
    s.stop()


# Every test: static credentials only (conftest's `no_ambient_aws`).
pytestmark = pytest.mark.usefixtures("no_ambient_aws")


def client(server, service="bedrock-runtime", key=AKID, secret=SECRET, endpoint_url=None, verify=None, **kw):
    return boto3.client(
        service,
        endpoint_url=endpoint_url or server.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        verify=verify,
        config=Config(retries={"max_attempts": 1}, **kw),
    )


def code_and_message(e: ClientError):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response[
        "ResponseMetadata"
    ]["HTTPStatusCode"]


def test_boto3_with_the_right_key_signs_every_kind_of_request(auth_server):
    br = client(auth_server)
    r = br.converse(modelId=MODEL, messages=HELLO)
    assert r["output"]["message"]["content"][0]["text"] == "Hello! How can I help you today?"
    stream = br.converse_stream(modelId=MODEL, messages=HELLO)["stream"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream if "contentBlockDelta" in e)
    assert text == "Hello! How can I help you today?"
    body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
    )
    inv = json.loads(br.invoke_model(modelId=f"us.{MODEL}", body=body)["body"].read())
    assert inv["content"][0]["text"] == "Hello! How can I help you today?"
    sm = client(auth_server, "sagemaker-runtime")
    out = sm.invoke_endpoint(
        EndpointName="llm", ContentType="application/json", Body=json.dumps({"messages": [{"role": "user", "content": "hello"}]})
    )
    assert json.loads(out["Body"].read())["choices"][0]["message"]["content"] == "Hello! How can I help you today?"


def test_a_wrong_secret_is_an_invalid_signature(auth_server):
    with pytest.raises(ClientError) as e:
        client(auth_server, secret=SECRET + "x").converse(modelId=MODEL, messages=HELLO)
    code, message, status = code_and_message(e)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message == (
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details."
    )


def test_an_unknown_access_key_is_an_unrecognized_client(auth_server):
    for service, call in [
        ("bedrock-runtime", lambda c: c.converse(modelId=MODEL, messages=HELLO)),
        ("sagemaker-runtime", lambda c: c.invoke_endpoint(EndpointName="llm", Body=b"{}")),
    ]:
        with pytest.raises(ClientError) as e:
            call(client(auth_server, service, key="AKIAUNKNOWN000000000"))
        assert code_and_message(e) == (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            403,
        )


def test_an_expired_signature_names_both_times(auth_server, monkeypatch):
    # botocore takes the signing time from botocore.auth.get_current_datetime: sign 10 minutes ago.
    signed_at = datetime.datetime(2020, 1, 2, 3, 4, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
    with pytest.raises(ClientError) as e:
        client(auth_server).converse(modelId=MODEL, messages=HELLO)
    code, message, status = code_and_message(e)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("Signature expired: 20200102T030405Z is now earlier than ")
    assert message.endswith(" - 5 min.)")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: datetime.datetime(2999, 1, 1))
    with pytest.raises(ClientError) as e:
        client(auth_server).converse(modelId=MODEL, messages=HELLO)
    code, message, _ = code_and_message(e)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature not yet current: 29990101T000000Z is still later than ")


def test_a_body_changed_after_signing_fails_the_signature(auth_server):
    br = client(auth_server)

    def tamper(request, **_):
        # before-send runs after SigV4 signed the original body.
        request.body = request.body.replace(b"hello", b"HELLO")

    br.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    with pytest.raises(ClientError) as e:
        br.converse(modelId=MODEL, messages=HELLO)
    assert code_and_message(e)[0] == "InvalidSignatureException"


def test_an_unsigned_request_is_missing_its_token(auth_server):
    with pytest.raises(ClientError) as e:
        client(auth_server, signature_version=UNSIGNED).converse(modelId=MODEL, messages=HELLO)
    assert code_and_message(e) == ("MissingAuthenticationTokenException", "Missing Authentication Token", 403)


def test_sigv4_over_https_is_checked_as_over_http(auth_server, cert):
    br = client(auth_server, endpoint_url=auth_server.tls_url, verify=cert[0])
    r = br.converse(modelId=MODEL, messages=HELLO)
    assert r["output"]["message"]["content"][0]["text"] == "Hello! How can I help you today?"
    stream = br.converse_stream(modelId=MODEL, messages=HELLO)["stream"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream if "contentBlockDelta" in e)
    assert text == "Hello! How can I help you today?"
    with pytest.raises(ClientError) as e:
        client(auth_server, secret=SECRET + "x", endpoint_url=auth_server.tls_url, verify=cert[0]).converse_stream(
            modelId=MODEL, messages=HELLO
        )
    assert code_and_message(e)[0] == "InvalidSignatureException"


def test_a_bedrock_api_key_from_aws_bearer_token_bedrock(auth_server, cert, monkeypatch):
    def bedrock():
        return boto3.client("bedrock-runtime", endpoint_url=auth_server.tls_url, region_name="us-east-1", verify=cert[0])

    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", BEDROCK_KEY)
    br = bedrock()
    r = br.converse(modelId=MODEL, messages=HELLO)
    assert r["output"]["message"]["content"][0]["text"] == "Hello! How can I help you today?"
    for token, message in [
        ("ABSKbm90LWEta2V5", "Authentication failed: Please make sure your API Key is valid."),
        ("not-a-bedrock-key", "Invalid API Key format: Must start with pre-defined prefix"),
    ]:
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
        br = bedrock()
        with pytest.raises(br.exceptions.AccessDeniedException) as e:
            br.converse(modelId=MODEL, messages=HELLO)
        assert code_and_message(e) == ("AccessDeniedException", message, 403)


def test_bedrocks_openai_path_takes_a_bedrock_api_key(auth_server):
    # AWS's own example: the OpenAI SDK with base_url .../openai/v1 and a Bedrock API key as api_key.
    ok = openai.OpenAI(base_url=auth_server.url + "/openai/v1", api_key=BEDROCK_KEY, max_retries=0)
    r = ok.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "Hello! How can I help you today?"
    # An OpenAI key is not a Bedrock API key: the AWS front door answers 403 AccessDeniedException.
    bad = openai.OpenAI(base_url=auth_server.url + "/openai/v1", api_key=OPENAI_KEY, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as e:
        bad.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": "hello"}])
    assert e.value.response.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert e.value.body == {"Message": "Invalid API Key format: Must start with pre-defined prefix"}


def test_openai_keys_and_the_401s_the_sdk_raises(auth_server):
    ok = openai.OpenAI(base_url=auth_server.url + "/v1", api_key=OPENAI_KEY, max_retries=0)
    r = ok.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "Hello! How can I help you today?"
    bad = openai.OpenAI(base_url=auth_server.url + "/v1", api_key="sk-proj-wrongkey12345678", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert e.value.status_code == 401
    assert e.value.code == "invalid_api_key"
    assert e.value.type == "invalid_request_error"
    assert e.value.body["message"].startswith("Incorrect API key provided: sk-proj-************5678. You can find")
    # The Anthropic key is not an OpenAI key.
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=auth_server.url + "/v1", api_key=ANTHROPIC_KEY, max_retries=0).models.list()


def test_anthropic_keys_and_the_401s_the_sdk_raises(auth_server):
    ok = anthropic.Anthropic(base_url=auth_server.url, api_key=ANTHROPIC_KEY, max_retries=0)
    m = ok.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "claude hello"}])
    assert m.content[0].text == "Hello from the Messages API!"
    bad = anthropic.Anthropic(base_url=auth_server.url, api_key="sk-ant-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "claude hello"}])
    assert e.value.status_code == 401
    assert e.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


def test_probes_stay_open_and_the_journal_needs_a_key(auth_server):
    assert auth_server.get_text("/healthz") == "ok"
    assert "mockmodel" in auth_server.get_text("/metrics")
    with pytest.raises(urllib.error.HTTPError) as e:
        auth_server.get_json("/__mockmodel/journal")
    assert e.value.code == 401
    req = urllib.request.Request(auth_server.url + "/__mockmodel/journal", headers={"Authorization": f"Bearer {OPENAI_KEY}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert "entries" in json.loads(r.read())


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_aws_sdk_for_javascript_v3(auth_server, cert, scheme):
    # h2c on http://, h2 by ALPN on https://: the signed host is the :authority either way.
    if scheme == "http":
        out = run_node("auth_client.cjs", auth_server.url)
    else:
        out = run_node("auth_client.cjs", auth_server.tls_url, env={"NODE_EXTRA_CA_CERTS": cert[0]})
    assert out["converse"] == "Hello! How can I help you today?"
    assert out["stream"] == "Hello! How can I help you today?"
    assert out["wrongSecret"]["name"] == "InvalidSignatureException"
    assert out["wrongSecret"]["status"] == 403
    assert out["unknownKey"]["name"] == "UnrecognizedClientException"
    assert out["unknownKey"]["message"] == "The security token included in the request is invalid."
    assert out["expired"]["name"] == "InvalidSignatureException"
    assert out["expired"]["message"].startswith("Signature expired: ")
    assert out["tampered"]["name"] == "InvalidSignatureException"
    assert out["bearer"] == "Hello! How can I help you today?"


def test_a_bad_credentials_file_stops_the_server_naming_the_field(tmp_path):
    from conftest import server_binary

    bad = tmp_path / "credentials.yaml"
    bad.write_text("aws:\n  - accessKeyId: AKIAONLY\n")
    run = subprocess.run(
        [server_binary(), "--port", "0", "--auth", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 1
    assert "invalid --auth file" in run.stderr and "aws[0]" in run.stderr and "secretAccessKey" in run.stderr


def test_a_signed_bidirectional_stream_is_not_buffered(tmp_path):
    # InvokeModelWithBidirectionalStream over h2 (the JS SDK's Nova Sonic client signs with
    # static keys "test"/"test"): the stream's body never ends while the session runs, so the
    # check must verify the request's signature without reading it.
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"aws": [{"accessKeyId": "test", "secretAccessKey": "test"}]}))
    s = Server("--fixtures", str(FIXTURES), "--auth", str(creds))
    try:
        out = run_node("nova_sonic_client.cjs", s.url)
    finally:
        s.stop()
    text = [e for e in out["text"]["events"] if e["name"] == "textOutput"]
    assert text[0]["content"] == "Hello! How can I help you today?"
