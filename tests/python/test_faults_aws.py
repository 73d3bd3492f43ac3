"""Fault injection seen through the real AWS clients: boto3 bedrock-runtime and sagemaker-runtime with
retries disabled, and strands-agents' BedrockModel. Each fault surfaces as the client's own exception,
in the protocol's own error shape; the request headers are added the way a test harness would, with a
botocore `before-send` hook, so the clients stay unchanged."""
import json

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError
from urllib3.exceptions import ProtocolError

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
HELLO = "Hello! How can I help you today?"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
# Retries off. In botocore's default (legacy) mode `max_attempts` counts *retries*, so
# `{"max_attempts": 1}` still sends a throttled request twice and would use up two fail-first
# failures; `total_max_attempts` counts attempts in every mode.
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def with_headers(client, headers: dict):
    """Adds `headers` to every request `client` sends (after signing, as a proxy would)."""

    def add(request, **_):
        for k, v in headers.items():
            request.headers[k] = v

    client.meta.events.register("before-send.*.*", add)
    return client


def aws_client(server, service, headers=None):
    c = boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        config=NO_RETRIES,
        **CREDS,
    )
    return with_headers(c, headers or {})


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def chat(text: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": text}], "max_tokens": 64, "stream": True})


# --- Bedrock: throttling ------------------------------------------------------------------------


def test_throttle_fault_is_a_throttling_exception_with_retry_after(server):
    client = aws_client(server, "bedrock-runtime", {"X-Mockmodel-Fault": "throttle"})
    for call in (client.converse, client.converse_stream):
        with pytest.raises(client.exceptions.ThrottlingException) as e:
            call(modelId=CLAUDE, messages=user("hello"))
        err = e.value.response
        assert err["Error"]["Code"] == "ThrottlingException"
        assert err["Error"]["Message"] == "Injected fault: rate exceeded"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert err["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
        assert err["ResponseMetadata"]["RequestId"]


def test_fail_first_throttles_n_requests_of_a_test_id_then_succeeds(server):
    client = aws_client(server, "bedrock-runtime", {"X-Mockmodel-Fail-First": "2", "X-Test-Id": "bedrock-flaky"})
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            client.converse(modelId=CLAUDE, messages=user("hello"))
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    r = client.converse(modelId=CLAUDE, messages=user("hello"))
    assert r["output"]["message"]["content"] == [{"text": HELLO}]
    # Another test id has its own count.
    other = aws_client(server, "bedrock-runtime", {"X-Mockmodel-Fail-First": "1", "X-Test-Id": "bedrock-other"})
    with pytest.raises(other.exceptions.ThrottlingException):
        other.converse(modelId=CLAUDE, messages=user("hello"))
    assert other.converse(modelId=CLAUDE, messages=user("hello"))["stopReason"] == "end_turn"


def test_fail_first_with_unavailable_is_a_service_unavailable_exception(server):
    client = aws_client(
        server,
        "bedrock-runtime",
        {"X-Mockmodel-Fail-First": "1", "X-Mockmodel-Fail-With": "unavailable", "X-Test-Id": "bedrock-503"},
    )
    with pytest.raises(client.exceptions.ServiceUnavailableException) as e:
        client.converse_stream(modelId=CLAUDE, messages=user("hello"))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    events = list(client.converse_stream(modelId=CLAUDE, messages=user("hello"))["stream"])
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == HELLO


def test_botocore_standard_retries_ride_out_fail_first(server):
    """With retries on, botocore retries the throttled attempts and the call succeeds."""
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        **CREDS,
    )
    with_headers(client, {"X-Mockmodel-Fail-First": "2", "X-Test-Id": "bedrock-retrying"})
    r = client.converse(modelId=CLAUDE, messages=user("hello"))
    assert r["output"]["message"]["content"] == [{"text": HELLO}]
    assert r["ResponseMetadata"]["RetryAttempts"] == 2


@pytest.mark.parametrize("streaming", [True, False])
def test_strands_bedrock_model_raises_model_throttled_on_a_throttle_fault(server, streaming):
    from strands import Agent
    from strands.models import BedrockModel
    from strands.types.exceptions import ModelThrottledException

    model = BedrockModel(
        model_id="us.anthropic.claude-sonnet-4-20250514-v1:0",
        endpoint_url=server.url,
        boto_session=boto3.Session(region_name="us-east-1", **CREDS),
        boto_client_config=NO_RETRIES,
        streaming=streaming,
    )
    with_headers(model.client, {"X-Mockmodel-Fault": "throttle"})
    agent = Agent(model=model, callback_handler=None, retry_strategy=None)
    with pytest.raises(ModelThrottledException) as e:
        agent("hello")
    assert "rate exceeded" in str(e.value).lower()


# --- Bedrock: broken streams --------------------------------------------------------------------


def stream_deltas(client, fault):
    """Iterates a ConverseStream with `fault`; returns the text received and the exception raised."""
    with_headers(client, {"X-Mockmodel-Fault": fault})
    stream = client.converse_stream(modelId=CLAUDE, messages=user("hello"))["stream"]
    got = []
    with pytest.raises(Exception) as e:
        for event in stream:
            if "contentBlockDelta" in event:
                got.append(event["contentBlockDelta"]["delta"]["text"])
    return got, e.value


def test_converse_stream_disconnect_raises_in_boto3_after_partial_content(server):
    got, exc = stream_deltas(aws_client(server, "bedrock-runtime"), "disconnect")
    # "hello" streams 7 chunks of 5 characters; the connection drops after 7 // 2 = 3 of them.
    assert got == ["Hello", "! How", " can "]
    # boto3 does not wrap errors raised while iterating an event stream: the dropped chunked body
    # surfaces as urllib3's own error.
    assert isinstance(exc, ProtocolError), repr(exc)
    assert "ended prematurely" in str(exc)


def test_converse_stream_malformed_frame_raises_in_boto3(server):
    got, exc = stream_deltas(aws_client(server, "bedrock-runtime"), "malformed")
    # The third content frame (of seven) is cut in half: its prelude announces more bytes than it
    # carries, so the parser reads into the next frame and the message CRC does not match.
    assert got == ["Hello", "! How"]
    assert isinstance(exc, ChecksumMismatch), repr(exc)


def test_chaos_drop_header_is_an_internal_server_exception_on_bedrock(server):
    client = aws_client(server, "bedrock-runtime", {"X-AIMock-Chaos-Drop": "1"})
    for call in (client.converse, client.converse_stream):
        with pytest.raises(client.exceptions.InternalServerException) as e:
            call(modelId=CLAUDE, messages=user("hello"))
        assert e.value.response["Error"]["Code"] == "InternalServerException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


# --- SageMaker ----------------------------------------------------------------------------------


def test_sagemaker_stream_disconnect_raises_in_boto3_after_partial_content(server):
    client = aws_client(server, "sagemaker-runtime", {"X-Mockmodel-Fault": "disconnect"})
    r = client.invoke_endpoint_with_response_stream(EndpointName="llama-endpoint", Body=chat("hello"))
    received = []
    with pytest.raises(ProtocolError, match="ended prematurely"):
        for event in r["Body"]:
            received.append(event["PayloadPart"]["Bytes"].decode())
    text = ""
    for part in received:
        data = part.removeprefix("data:").strip()
        if data != "[DONE]":
            text += json.loads(data)["choices"][0]["delta"].get("content") or ""
    assert text == "Hello! How can "


def test_sagemaker_throttle_and_fail_first_are_throttling_exceptions(server):
    client = aws_client(server, "sagemaker-runtime", {"X-Mockmodel-Fail-First": "1", "X-Test-Id": "sm-flaky"})
    with pytest.raises(ClientError) as e:
        client.invoke_endpoint(EndpointName="llama-endpoint", Body=chat("hello"))
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    r = client.invoke_endpoint(EndpointName="llama-endpoint", Body=chat("hello"))
    assert json.loads(r["Body"].read())["choices"][0]["message"]["content"] == HELLO


def test_chaos_drop_header_is_an_internal_failure_on_sagemaker(server):
    client = aws_client(server, "sagemaker-runtime", {"X-AIMock-Chaos-Drop": "1"})
    with pytest.raises(client.exceptions.InternalFailure) as e:
        client.invoke_endpoint(EndpointName="llama-endpoint", Body=chat("hello"))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(client.exceptions.InternalFailure):
        client.invoke_endpoint_with_response_stream(EndpointName="llama-endpoint", Body=chat("hello"))


def test_faults_are_counted_by_kind(server):
    client = aws_client(server, "bedrock-runtime", {"X-Mockmodel-Fault": "throttle"})
    with pytest.raises(ClientError):
        client.converse(modelId=CLAUDE, messages=user("hello"))
    assert 'mockmodel_faults_total{kind="throttle"}' in server.get_text("/metrics")
