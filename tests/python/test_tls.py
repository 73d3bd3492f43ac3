"""`--tls-cert`/`--tls-key`: the server's own TLS listener, with a self-signed certificate made here.
Every client verifies it (boto3 `verify=`, httpx's SSL context for the openai and anthropic SDKs,
NODE_EXTRA_CA_CERTS for the AWS SDK for JavaScript v3, which speaks h2 chosen by ALPN); plain HTTP on
the TLS port fails with a reason, and a failed handshake never stops the server."""
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import anthropic
import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import FIXTURES, Server, run_node, self_signed_cert, server_binary

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
HELLO = [{"role": "user", "content": [{"text": "hello"}]}]
GREETING = "Hello! How can I help you today?"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(cert):
    # Debug logs of the TLS listener only, so the handshake failures below can be seen.
    s = Server(
        "--fixtures", str(FIXTURES), "--tls-cert", cert[0], "--tls-key", cert[1],
        env={"RUST_LOG": "info,mockmodel_server::tls=debug"}, cafile=cert[0],
    )
    yield s
    s.stop()


# Every test: static credentials only (conftest's `no_ambient_aws`).
pytestmark = pytest.mark.usefixtures("no_ambient_aws")


def bedrock(url, cafile):
    return boto3.client(
        "bedrock-runtime", endpoint_url=url, region_name="us-east-1", verify=cafile,
        aws_access_key_id="test", aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}),
    )


def wait_for_log(server, text):
    """The server's stderr is drained by a thread: wait until `text` shows up in it."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if any(text in line for line in list(server.log)):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n" + "".join(server.log[-20:]))


def alpn(url, cafile, offered):
    host, port = url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(offered)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            return s.selected_alpn_protocol()


def test_the_server_announces_https_and_offers_h2_and_http11(tls_server, cert):
    assert tls_server.url.startswith("https://127.0.0.1:") and tls_server.tls_url == tls_server.url
    assert alpn(tls_server.url, cert[0], ["h2", "http/1.1"]) == "h2"
    assert alpn(tls_server.url, cert[0], ["http/1.1"]) == "http/1.1"
    assert tls_server.get_text("/healthz") == "ok"


def test_boto3_converse_and_converse_stream_over_https(tls_server, cert):
    br = bedrock(tls_server.url, cert[0])
    r = br.converse(modelId=MODEL, messages=HELLO)
    assert r["output"]["message"]["content"][0]["text"] == GREETING
    events = list(br.converse_stream(modelId=MODEL, messages=HELLO)["stream"])
    assert next(iter(events[0])) == "messageStart" and events[0]["messageStart"]["role"] == "assistant"
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == GREETING
    assert events[-1]["metadata"]["usage"]["totalTokens"] > 0


def test_the_openai_and_anthropic_sdks_over_https(tls_server, cert):
    verify = ssl.create_default_context(cafile=cert[0])
    oa = openai.OpenAI(
        base_url=tls_server.url + "/v1", api_key="sk-test", max_retries=0, http_client=httpx.Client(verify=verify)
    )
    r = oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == GREETING
    chunks = oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == GREETING
    an = anthropic.Anthropic(
        base_url=tls_server.url, api_key="sk-ant-test", max_retries=0, http_client=httpx.Client(verify=verify)
    )
    m = an.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "claude hello"}])
    assert m.content[0].text == "Hello from the Messages API!"
    with an.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "claude hello"}]
    ) as s:
        assert "".join(s.text_stream) == "Hello from the Messages API!"


def test_the_aws_sdk_for_javascript_v3_over_https_h2(tls_server, cert):
    # The client's default handler is HTTP/2-only: over https:// it needs ALPN h2 from the server.
    out = run_node("bedrock_client.cjs", tls_server.url, env={"NODE_EXTRA_CA_CERTS": cert[0]})
    assert out["handler"] == "NodeHttp2Handler"
    assert out["converse"]["content"] == [{"text": GREETING}]
    names = [next(iter(e)) for e in out["events"]]
    assert names == ["messageStart"] + ["contentBlockDelta"] * 7 + ["contentBlockStop", "messageStop", "metadata"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in out["events"][1:8]) == GREETING
    assert out["error"] == {"name": "ThrottlingException", "message": "Rate exceeded", "status": 429}


def test_a_nova_sonic_bidirectional_session_over_https_h2(tls_server, cert):
    out = run_node("nova_sonic_client.cjs", tls_server.url, env={"NODE_EXTRA_CA_CERTS": cert[0]})
    assert out["handler"] == "NodeHttp2Handler"
    assert out["text"]["httpStatus"] == 200
    text = [e for e in out["text"]["events"] if e["name"] == "textOutput"]
    assert text[0]["content"] == GREETING


def test_plain_http_on_the_tls_port_fails_with_a_reason_and_the_server_keeps_serving(tls_server, cert):
    plain = tls_server.url.replace("https://", "http://")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(plain + "/healthz", timeout=10)
    assert e.value.code == 400
    assert e.value.read().decode() == "This port speaks TLS: use https:// instead of http://.\n"
    with pytest.raises(ClientError) as e:
        bedrock(plain, False).converse(modelId=MODEL, messages=HELLO)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    wait_for_log(tls_server, "not a TLS handshake")
    # A client that does not trust the certificate aborts the handshake; one that sends nothing leaves.
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(tls_server.url + "/healthz", timeout=10)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    wait_for_log(tls_server, "TLS handshake failed")
    host, port = tls_server.url.removeprefix("https://").split(":")
    socket.create_connection((host, int(port)), timeout=10).close()
    r = bedrock(tls_server.url, cert[0]).converse(modelId=MODEL, messages=HELLO)
    assert r["output"]["message"]["content"][0]["text"] == GREETING
    assert tls_server.proc.poll() is None


def test_sighup_reloads_the_certificate_and_a_bad_pair_keeps_the_old_one(tmp_path):
    cert, key = self_signed_cert(tmp_path / "a", cn="first")
    # The environment variables, as a Deployment would set them.
    s = Server(env={"MOCKMODEL_TLS_CERT": cert, "MOCKMODEL_TLS_KEY": key}, cafile=cert)
    try:
        host, port = s.url.removeprefix("https://").split(":")

        def served():
            return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, int(port))))

        def pem(path):
            return ssl.PEM_cert_to_DER_cert(open(path).read())

        assert served() == pem(cert)
        new_cert, new_key = self_signed_cert(tmp_path / "b", cn="second")
        os.replace(new_key, key)
        os.replace(new_cert, cert)
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_for_log(s, "TLS certificate and key reloaded")
        assert served() == pem(cert)
        second = open(cert).read()
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_for_log(s, "keeping the current TLS certificate")
        assert served() == ssl.PEM_cert_to_DER_cert(second)
        assert s.proc.poll() is None
    finally:
        s.stop()


def test_bad_certificate_files_stop_the_server_naming_the_file(tmp_path, cert):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    _, other_key = self_signed_cert(tmp_path / "other")

    def start(*args):
        return subprocess.run([server_binary(), "--port", "0", *args], capture_output=True, text=True, timeout=30)

    run = start("--tls-cert", str(junk), "--tls-key", cert[1])
    assert run.returncode == 1
    assert f"invalid --tls-cert {junk}: no PEM certificate" in run.stderr
    run = start("--tls-cert", cert[0], "--tls-key", cert[0])
    assert run.returncode == 1
    assert f"invalid --tls-key {cert[0]}: no PEM private key" in run.stderr
    run = start("--tls-cert", cert[0], "--tls-key", other_key)
    assert run.returncode == 1
    assert f"--tls-key {other_key} does not fit --tls-cert {cert[0]}" in run.stderr
    # Both or neither.
    run = start("--tls-cert", cert[0])
    assert run.returncode == 2 and "--tls-key <FILE>" in run.stderr
