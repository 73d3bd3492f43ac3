"""boto3 `sagemaker-runtime` and strands-agents `SageMakerAIModel`, unchanged apart from the endpoint
URL, against mockmodel-server.

Every test asserts what the client parsed: response bodies, PayloadPart bytes re-assembled, the
toolUse strands built, botocore's modeled exceptions."""
import asyncio
import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

HELLO = "Hello! How can I help you today?"


@pytest.fixture
def client(server):
    # One attempt in total: a 503 must surface as botocore's exception, not be retried away.
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


def chat(text: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": text}], "max_tokens": 64})


def parts(response) -> list[bytes]:
    return [event["PayloadPart"]["Bytes"] for event in response["Body"]]


def sse_events(payload_parts: list[bytes]) -> list[dict]:
    """One whole `data:` event per PayloadPart, as strands-agents' parser expects."""
    events = []
    for part in payload_parts:
        text = part.decode()
        assert text.startswith("data:") and text.endswith("\n\n") and text.count("\n\n") == 1, text
        data = text[len("data:") :].strip()
        if data != "[DONE]":
            events.append(json.loads(data))
    return events


# --- boto3 -------------------------------------------------------------------------------------


def test_invoke_endpoint_returns_a_chat_completion_and_the_service_headers(client):
    r = client.invoke_endpoint(
        EndpointName="llama-endpoint",
        ContentType="application/json",
        Accept="application/json",
        CustomAttributes="trace=abc",
        Body=chat("hello"),
    )
    body = json.loads(r["Body"].read())
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == HELLO
    assert r["ContentType"] == "application/json"
    assert r["InvokedProductionVariant"] == "AllTraffic"
    assert r["CustomAttributes"] == "trace=abc"
    assert r["ResponseMetadata"]["RequestId"]


def test_invoke_endpoint_with_response_stream_reassembles_the_fixture_text(client):
    r = client.invoke_endpoint_with_response_stream(
        EndpointName="llama-endpoint", ContentType="application/json", Body=chat("hello")
    )
    assert r["ContentType"] == "text/event-stream"
    events = sse_events(parts(r))
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == HELLO
    # chunkSize 5 in the fixture: 7 content chunks, each its own PayloadPart.
    assert sum(1 for e in events if e["choices"][0]["delta"].get("content")) == 7


def test_tgi_generate_bodies_get_tgi_answers(client):
    r = client.invoke_endpoint(EndpointName="tgi", Body=json.dumps({"inputs": "hello", "parameters": {"details": True}}))
    body = json.loads(r["Body"].read())
    assert body[0]["generated_text"] == HELLO
    assert body[0]["details"]["finish_reason"] == "eos_token"
    r = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=json.dumps({"inputs": "hello"}))
    events = sse_events(parts(r))
    assert "".join(e["token"]["text"] for e in events if not e["token"]["special"]) == HELLO
    assert events[-1]["generated_text"] == HELLO


def test_model_error_fixture_is_botocores_model_error(client):
    with pytest.raises(client.exceptions.ModelError) as e:
        client.invoke_endpoint(EndpointName="llama-endpoint", Body=chat("model error"))
    assert e.value.response["Error"]["Code"] == "ModelError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert e.value.response["OriginalStatusCode"] == 503
    assert e.value.response["OriginalMessage"] == "CUDA out of memory"
    assert "/aws/sagemaker/Endpoints/llama-endpoint" in e.value.response["LogStreamArn"]
    # On the streaming operation too, before any event.
    with pytest.raises(client.exceptions.ModelError):
        client.invoke_endpoint_with_response_stream(EndpointName="llama-endpoint", Body=chat("model error"))


def test_not_ready_unavailable_and_malformed_bodies_are_modeled_errors(client):
    with pytest.raises(client.exceptions.ModelNotReadyException):
        client.invoke_endpoint(EndpointName="ep", Body=chat("not ready"))
    with pytest.raises(client.exceptions.ServiceUnavailable):
        client.invoke_endpoint(EndpointName="ep", Body=chat("unavailable"))
    with pytest.raises(client.exceptions.ValidationError) as e:
        client.invoke_endpoint(EndpointName="ep", Body=b"not json")
    assert "not JSON" in e.value.response["Error"]["Message"]


def test_error_after_chunks_is_an_in_stream_model_stream_error(client):
    r = client.invoke_endpoint_with_response_stream(EndpointName="ep", Body=chat("stream break"))
    received = []
    with pytest.raises(EventStreamError) as e:
        for event in r["Body"]:
            received.append(event["PayloadPart"]["Bytes"])
    assert e.value.response["Error"]["Code"] == "ModelStreamError"
    assert e.value.response["Error"]["Message"] == "Model stream broke"
    text = "".join(ev["choices"][0]["delta"].get("content") or "" for ev in sse_events(received))
    assert text == "This str"


def test_endpoint_name_and_target_variant_select_fixtures(client):
    r = client.invoke_endpoint(EndpointName="canary-endpoint", TargetVariant="canary", Body=chat("which?"))
    assert json.loads(r["Body"].read())["choices"][0]["message"]["content"] == "canary variant"
    assert r["InvokedProductionVariant"] == "canary"
    r = client.invoke_endpoint(EndpointName="prod-llm", Body=chat("which?"))
    assert json.loads(r["Body"].read())["choices"][0]["message"]["content"] == "production endpoint"


def test_journal_and_metrics_record_sagemaker_calls(client, server):
    client.invoke_endpoint(EndpointName="llama-endpoint", Body=chat("hello"))
    entry = server.get_json("/__mockmodel/journal")["entries"][-1]
    assert (entry["protocol"], entry["operation"], entry["model"]) == ("sagemaker", "InvokeEndpoint", "llama-endpoint")
    assert entry["fixture"].endswith("chat.yaml#12")
    with urllib.request.urlopen(server.url + "/metrics") as r:
        metrics = r.read().decode()
    assert (
        'mockmodel_requests_total{method="POST",model="llama-endpoint",'
        'route="/endpoints/{endpoint}/invocations",status="200"}' in metrics
    )


def test_container_contract_ping_and_invocations(server):
    with urllib.request.urlopen(server.url + "/ping") as r:
        assert r.status == 200
    req = urllib.request.Request(
        server.url + "/invocations", data=chat("hello").encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["choices"][0]["message"]["content"] == HELLO


# --- strands-agents SageMakerAIModel -----------------------------------------------------------


@pytest.fixture
def sagemaker_env(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def strands_model(stream: bool):
    from strands.models.sagemaker import SageMakerAIModel

    return SageMakerAIModel(
        endpoint_config={"endpoint_name": "llama-endpoint", "region_name": "us-east-1"},
        payload_config={"max_tokens": 256, "stream": stream},
    )


def collect(model, text: str, tool_specs=None) -> list[dict]:
    async def run():
        return [e async for e in model.stream([{"role": "user", "content": [{"text": text}]}], tool_specs)]

    return asyncio.run(run())


WEATHER_SPEC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@pytest.mark.parametrize("stream", [True, False])
def test_strands_hello_returns_the_fixture_text(sagemaker_env, stream):
    from strands import Agent

    agent = Agent(model=strands_model(stream), callback_handler=None)
    result = agent("hello")
    assert str(result).strip() == HELLO
    assert result.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [True, False])
def test_strands_tool_call_fixture_yields_a_tool_use(sagemaker_env, stream):
    events = collect(strands_model(stream), "weather in Paris?", [WEATHER_SPEC])
    starts = [e["contentBlockStart"]["start"]["toolUse"] for e in events if "toolUse" in e.get("contentBlockStart", {}).get("start", {})]
    assert [(s["name"], s["toolUseId"]) for s in starts] == [("get_weather", "call_weather_1")]
    tool_input = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "toolUse" in e.get("contentBlockDelta", {}).get("delta", {})
    )
    assert json.loads(tool_input) == {"city": "Paris"}
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]


@pytest.mark.parametrize("stream", [True, False])
def test_strands_agent_runs_the_tool_loop(sagemaker_env, stream):
    from strands import Agent, tool

    calls = []

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return "sunny, 22C"

    agent = Agent(model=strands_model(stream), tools=[get_weather], callback_handler=None)
    result = agent("weather in Paris?")
    assert calls == ["Paris"]
    assert str(result).strip() == "It is sunny and 22°C in Paris."
    tool_uses = [b["toolUse"] for m in agent.messages for b in m["content"] if "toolUse" in b]
    assert [(t["name"], t["input"]) for t in tool_uses] == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("stream", [True, False])
def test_strands_surfaces_model_error_as_botocores_model_error(sagemaker_env, stream):
    model = strands_model(stream)
    with pytest.raises(ClientError) as e:
        collect(model, "model error")
    assert isinstance(e.value, model.client.exceptions.ModelError)
    assert e.value.response["OriginalStatusCode"] == 503
