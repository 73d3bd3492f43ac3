"""--upstream-openai (translate mode): a translating mockmodel-server with no fixtures answers Bedrock,
SageMaker and Anthropic requests from an OpenAI-compatible upstream, here a second mockmodel-server
whose OpenAI chat fixtures stand in for a small real model (a text answer, a tool call matched on the
prompt and the declared tool, a final answer matched on the tool result's id and content).

Each test drives the translating server with a real client and asserts what the client parsed; the
upstream's journal shows which of its fixtures answered, which proves what the translated request
carried (system prompt, tools, the tool result's `tool_call_id` and content, the model name)."""
import json

import anthropic
import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_client, run_node

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
UPSTREAM_MODEL = "small-model"
CAPITAL = "The capital of France is Paris."
SUNNY = "It is sunny in Paris, 22C."
# The upstream's answers, in the order its journal names them (`upstream.json#N`).
UPSTREAM_FIXTURES = {
    "fixtures": [
        {
            "match": {"userMessage": "throttle me"},
            "response": {"error": {"type": "rate_limit_error", "message": "Slow down, small model"}, "status": 429},
        },
        {
            # Matches only if the translated request carried the tool result as a `tool` message
            # answering the upstream's own call id, with the tool's output as its content.
            "match": {
                "userMessage": "weather",
                "hasToolResult": True,
                "toolCallId": "call_weather_1",
                "toolResultContains": "sunny",
                "toolName": "get_weather",
                "model": UPSTREAM_MODEL,
            },
            "response": {"content": SUNNY, "usage": {"prompt_tokens": 41, "completion_tokens": 9}},
            "streamingProfile": {"ttft": 20, "tps": 500},
            "chunkSize": 5,
        },
        {
            # Matches only if the request declared the tool (`tools[].function.name`).
            "match": {"userMessage": "weather", "toolName": "get_weather", "model": UPSTREAM_MODEL},
            "response": {
                "toolCalls": [{"id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 12},
            },
            "streamingProfile": {"ttft": 20, "tps": 500},
            "chunkSize": 4,
        },
        {
            # Matches only if the system prompt arrived as a `system` message.
            "match": {"userMessage": "capital of France", "systemMessage": "geography tutor", "model": UPSTREAM_MODEL},
            "response": {"content": CAPITAL, "usage": {"prompt_tokens": 21, "completion_tokens": 7}},
            "streamingProfile": {"ttft": 20, "tps": 500},
            "chunkSize": 6,
        },
        {
            "match": {"userMessage": "ramble"},
            "response": {"content": "On and on and", "finishReason": "length", "usage": {"prompt_tokens": 5, "completion_tokens": 4}},
        },
        {
            "match": {"userMessage": "slowly"},
            "response": {"content": "eventually"},
            "latency": 5000,
        },
        {
            # A reasoning model (vLLM's `reasoning_content`).
            "match": {"userMessage": "think first"},
            "response": {"reasoning": "France's capital city is Paris.", "content": CAPITAL},
        },
    ]
}
SYSTEM = "You are a geography tutor."
WEATHER_TOOL = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather of a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}
ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(translating server, upstream); the translator has no fixtures of its own."""
    base = tmp_path_factory.mktemp("translate")
    (base / "upstream.json").write_text(json.dumps(UPSTREAM_FIXTURES))
    (base / "own.yaml").write_text("fixtures: [{match: {userMessage: never-asked}, response: {content: no}}]\n")
    upstream = Server("--fixtures", str(base / "upstream.json"))
    translator = Server(
        "--fixtures", str(base / "own.yaml"),
        "--upstream-openai", upstream.url + "/v1",
        "--upstream-openai-model", UPSTREAM_MODEL,
        "--upstream-openai-key", "sk-upstream-key",
        "--upstream-timeout", "2",
        # OpenAI's own wire is relayed, not translated.
        "--proxy-unmatched", f"openai={upstream.url}",
    )  # fmt: skip
    yield translator, upstream
    translator.stop()
    upstream.stop()


@pytest.fixture
def translator(servers):
    servers[1].reset()
    return servers[0]


def upstream_answers(servers):
    """What the upstream matched, per request: (fixture index, stream), oldest first."""
    entries = servers[1].get_json("/__mockmodel/journal")["entries"]
    assert all(e["protocol"] == "openai" and e["operation"] == "chat.completions" for e in entries), entries
    assert all(e["model"] == UPSTREAM_MODEL for e in entries), entries
    return [(int(e["fixture"].rsplit("#", 1)[1]) if e["fixture"] else None, e["stream"]) for e in entries]


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def test_converse_tool_round_trip(servers, translator):
    br = aws_client("bedrock-runtime", translator.url)
    msgs = user("What's the weather in Paris?")
    r = br.converse(modelId=MODEL, messages=msgs, toolConfig=WEATHER_TOOL, system=[{"text": SYSTEM}])
    assert r["stopReason"] == "tool_use"
    assert r["output"]["message"]["content"] == [
        {"toolUse": {"toolUseId": "call_weather_1", "name": "get_weather", "input": {"city": "Paris"}}}
    ]
    assert (r["usage"]["inputTokens"], r["usage"]["outputTokens"], r["usage"]["totalTokens"]) == (30, 12, 42)
    msgs.append(r["output"]["message"])
    msgs.append(
        {"role": "user", "content": [{"toolResult": {"toolUseId": "call_weather_1", "content": [{"text": "sunny, 22C"}]}}]}
    )
    r = br.converse(modelId=MODEL, messages=msgs, toolConfig=WEATHER_TOOL, inferenceConfig={"maxTokens": 200})
    assert r["output"]["message"] == {"role": "assistant", "content": [{"text": SUNNY}]}
    assert r["stopReason"] == "end_turn"
    assert (r["usage"]["inputTokens"], r["usage"]["outputTokens"]) == (41, 9)
    assert upstream_answers(servers) == [(2, False), (1, False)]


def test_converse_stream_tool_round_trip(servers, translator):
    br = aws_client("bedrock-runtime", translator.url)
    msgs = user("Stream the weather in Paris")
    start, args, stop, usage = None, "", None, None
    for ev in br.converse_stream(modelId=MODEL, messages=msgs, toolConfig=WEATHER_TOOL)["stream"]:
        if "contentBlockStart" in ev:
            start = ev["contentBlockStart"]["start"]["toolUse"]
        args += ev.get("contentBlockDelta", {}).get("delta", {}).get("toolUse", {}).get("input", "")
        stop = ev.get("messageStop", {}).get("stopReason", stop)
        usage = ev.get("metadata", {}).get("usage", usage)
    assert start == {"toolUseId": "call_weather_1", "name": "get_weather"}
    assert json.loads(args) == {"city": "Paris"}
    assert stop == "tool_use"
    assert (usage["inputTokens"], usage["outputTokens"]) == (30, 12)
    msgs.append({"role": "assistant", "content": [{"toolUse": {**start, "input": json.loads(args)}}]})
    msgs.append({"role": "user", "content": [{"toolResult": {"toolUseId": start["toolUseId"], "content": [{"json": {"sky": "sunny"}}]}}]})
    text, stop, usage = "", None, None
    for ev in br.converse_stream(modelId=MODEL, messages=msgs, toolConfig=WEATHER_TOOL)["stream"]:
        text += ev.get("contentBlockDelta", {}).get("delta", {}).get("text", "")
        stop = ev.get("messageStop", {}).get("stopReason", stop)
        usage = ev.get("metadata", {}).get("usage", usage)
    assert text == SUNNY
    assert stop == "end_turn"
    assert (usage["inputTokens"], usage["outputTokens"], usage["totalTokens"]) == (41, 9, 50)
    # The upstream was asked for streams (with the usage chunk, or usage would be estimated).
    assert upstream_answers(servers) == [(2, True), (1, True)]


def test_js_sdk_converse_stream_tool_round_trip_over_h2(servers, translator):
    out = run_node("translate_client.cjs", translator.url)
    assert out["handler"] == "NodeHttp2Handler"
    assert out["call"]["toolUse"] == {"toolUseId": "call_weather_1", "name": "get_weather"}
    assert json.loads(out["call"]["input"]) == {"city": "Paris"}
    assert out["call"]["stopReason"] == "tool_use"
    assert out["answer"]["text"] == SUNNY
    assert out["answer"]["stopReason"] == "end_turn"
    assert (out["answer"]["usage"]["inputTokens"], out["answer"]["usage"]["outputTokens"]) == (41, 9)
    assert upstream_answers(servers) == [(2, True), (1, True)]


def test_a_length_finish_is_max_tokens(servers, translator):
    r = aws_client("bedrock-runtime", translator.url).converse(modelId=MODEL, messages=user("ramble on"))
    assert r["stopReason"] == "max_tokens"
    assert r["output"]["message"]["content"] == [{"text": "On and on and"}]


def test_reasoning_reaches_converse_and_its_stream(servers, translator):
    br = aws_client("bedrock-runtime", translator.url)
    r = br.converse(modelId=MODEL, messages=user("think first: capital of France?"))
    assert r["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "France's capital city is Paris."}}},
        {"text": CAPITAL},
    ]
    reasoning, text = "", ""
    for ev in br.converse_stream(modelId=MODEL, messages=user("think first, streamed"))["stream"]:
        delta = ev.get("contentBlockDelta", {}).get("delta", {})
        reasoning += delta.get("reasoningContent", {}).get("text", "")
        text += delta.get("text", "")
    assert (reasoning, text) == ("France's capital city is Paris.", CAPITAL)
    assert upstream_answers(servers) == [(6, False), (6, True)]


def claude_body(text, **extra):
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": text}],
            **extra,
        }
    )


def test_invoke_model_claude_body_and_its_stream(servers, translator):
    br = aws_client("bedrock-runtime", translator.url)
    r = br.invoke_model(modelId=MODEL, body=claude_body("capital of France?"))
    body = json.loads(r["body"].read())
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == [{"type": "text", "text": CAPITAL}]
    assert body["stop_reason"] == "end_turn"
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (21, 7)
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-output-token-count"] == "7"
    r = br.invoke_model_with_response_stream(modelId=MODEL, body=claude_body("Stream: capital of France?"))
    events = [json.loads(ev["chunk"]["bytes"]) for ev in r["body"]]
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == CAPITAL
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == 7
    assert events[-1]["type"] == "message_stop"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 21
    assert upstream_answers(servers) == [(3, False), (3, True)]


def sagemaker_chat(text, **extra):
    return json.dumps(
        {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}], "max_tokens": 64, **extra}
    )


def test_sagemaker_openai_container_whole_and_streamed(servers, translator):
    sm = aws_client("sagemaker-runtime", translator.url)
    r = sm.invoke_endpoint(EndpointName="llm", ContentType="application/json", Body=sagemaker_chat("capital of France?"))
    body = json.loads(r["Body"].read())
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == CAPITAL
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (21, 7)
    r = sm.invoke_endpoint_with_response_stream(
        EndpointName="llm",
        ContentType="application/json",
        Body=sagemaker_chat("Stream: capital of France?", stream=True),
    )
    text, finish = "", None
    for ev in r["Body"]:
        data = ev["PayloadPart"]["Bytes"].decode().removeprefix("data:").strip()
        if data == "[DONE]":
            continue
        choice = (json.loads(data).get("choices") or [{}])[0]
        text += choice.get("delta", {}).get("content") or ""
        finish = choice.get("finish_reason") or finish
    assert text == CAPITAL
    assert finish == "stop"
    assert upstream_answers(servers) == [(3, False), (3, True)]


def test_sagemaker_tgi_container_streamed_and_llama_invoke_model(servers, translator):
    """The prompt-only formats: a TGI generate stream and a Llama 3 InvokeModel prompt (its system
    header reaches the upstream as the system message)."""
    sm = aws_client("sagemaker-runtime", translator.url)
    tgi = {"inputs": "TGI stream: ramble on", "parameters": {"max_new_tokens": 64}}
    r = sm.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=json.dumps(tgi))
    events = [json.loads(ev["PayloadPart"]["Bytes"].decode().removeprefix("data:")) for ev in r["Body"]]
    assert "".join(e["token"]["text"] for e in events if not e["token"]["special"]) == "On and on and"
    assert events[-1]["generated_text"] == "On and on and"
    assert events[-1]["details"]["finish_reason"] == "length"
    prompt = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        + SYSTEM
        + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\ncapital of France?<|eot_id|>"
        + "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    r = aws_client("bedrock-runtime", translator.url).invoke_model(
        modelId="meta.llama3-8b-instruct-v1:0", body=json.dumps({"prompt": prompt, "max_gen_len": 64})
    )
    body = json.loads(r["body"].read())
    assert body["generation"] == CAPITAL
    assert body["stop_reason"] == "stop"
    assert (body["prompt_token_count"], body["generation_token_count"]) == (21, 7)
    assert upstream_answers(servers) == [(4, True), (3, False)]


def test_anthropic_sdk_unary_stream_and_tool_use(servers, translator):
    an = anthropic.Anthropic(base_url=translator.url, api_key="sk-ant-client", max_retries=0)
    m = an.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, system=SYSTEM,
        messages=[{"role": "user", "content": "capital of France?"}],
    )  # fmt: skip
    assert [b.text for b in m.content] == [CAPITAL]
    assert m.stop_reason == "end_turn"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (21, 7)
    with an.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, system=SYSTEM,
        messages=[{"role": "user", "content": "Stream: capital of France?"}],
    ) as stream:  # fmt: skip
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == CAPITAL
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7
    msgs = [{"role": "user", "content": "weather in Paris?"}]
    m = an.messages.create(model="claude-sonnet-4-5", max_tokens=100, tools=ANTHROPIC_TOOLS, messages=msgs)
    assert m.stop_reason == "tool_use"
    (call,) = m.content
    assert (call.type, call.id, call.name, call.input) == ("tool_use", "call_weather_1", "get_weather", {"city": "Paris"})
    msgs.append({"role": "assistant", "content": [call.model_dump(exclude_none=True)]})
    msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny and warm"}]})
    with an.messages.stream(model="claude-sonnet-4-5", max_tokens=100, tools=ANTHROPIC_TOOLS, messages=msgs) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == SUNNY
    assert (final.usage.input_tokens, final.usage.output_tokens) == (41, 9)
    # Bedrock's Anthropic-compatible path is translated as well.
    bedrock_an = anthropic.Anthropic(base_url=translator.url + "/anthropic", api_key="bedrock-api-key", max_retries=0)
    m = bedrock_an.messages.create(
        model=MODEL, max_tokens=100, system=SYSTEM, messages=[{"role": "user", "content": "capital of France?"}]
    )
    assert ([b.text for b in m.content], m.stop_reason) == ([CAPITAL], "end_turn")
    assert upstream_answers(servers) == [(3, False), (3, True), (2, False), (1, True), (3, False)]


def test_strands_agent_tool_round_trip(servers, translator):
    """A strands agent (BedrockModel, ConverseStream) calls its tool on the upstream's request and
    answers with the upstream's final text."""
    import boto3
    from botocore.config import Config
    from strands import Agent, tool
    from strands.models import BedrockModel

    seen = []

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        seen.append(city)
        return f"sunny over {city}"

    model = BedrockModel(
        model_id=MODEL,
        endpoint_url=translator.url,
        boto_session=boto3.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"),
        boto_client_config=Config(retries={"total_max_attempts": 1}),
        streaming=True,
    )
    result = Agent(model=model, tools=[get_weather], callback_handler=None)("Strands: the weather in Paris?")
    assert seen == ["Paris"]
    assert str(result).strip() == SUNNY
    assert result.stop_reason == "end_turn"
    assert upstream_answers(servers) == [(2, True), (1, True)]


def test_the_openai_wire_is_relayed_beside_translation(servers, translator):
    from openai import OpenAI

    oa = OpenAI(base_url=translator.url + "/v1", api_key="sk-client", max_retries=0)
    r = oa.chat.completions.create(
        model=UPSTREAM_MODEL,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "capital of France?"}],
    )
    assert r.choices[0].message.content == CAPITAL
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (21, 7)
    assert upstream_answers(servers) == [(3, False)]


def test_upstream_errors_in_each_wires_shape(servers, translator):
    br = aws_client("bedrock-runtime", translator.url)
    with pytest.raises(ClientError) as e:
        br.converse(modelId=MODEL, messages=user("throttle me"))
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "Slow down, small model" in e.value.response["Error"]["Message"]
    an = anthropic.Anthropic(base_url=translator.url, api_key="sk-ant-client", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as e:
        an.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "throttle me"}])
    assert "Slow down, small model" in e.value.message
    # The upstream takes 5 s; --upstream-timeout 2 answers the wire's timeout instead of hanging.
    with pytest.raises(ClientError) as e:
        br.converse(modelId=MODEL, messages=user("slowly please"))
    assert e.value.response["Error"]["Code"] == "ModelTimeoutException"
    assert "did not answer within 2 s" in e.value.response["Error"]["Message"]


def test_an_upstream_that_is_down_is_a_502_naming_it(tmp_path):
    (tmp_path / "upstream.json").write_text(json.dumps(UPSTREAM_FIXTURES))
    upstream = Server("--fixtures", str(tmp_path / "upstream.json"))
    url = upstream.url + "/v1"
    translator = Server("--fixtures", str(tmp_path / "upstream.json"), "--upstream-openai", url)
    try:
        upstream.stop()
        with pytest.raises(ClientError) as e:
            aws_client("bedrock-runtime", translator.url).converse(modelId=MODEL, messages=user("anything at all"))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert e.value.response["Error"]["Code"] == "InternalServerException"
        assert f"the upstream {url} did not answer" in e.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as e:
            aws_client("sagemaker-runtime", translator.url).invoke_endpoint(
                EndpointName="llm", ContentType="application/json", Body=sagemaker_chat("anything at all")
            )
        # SageMaker's service model gives InternalFailure a 500, whatever the cause.
        assert e.value.response["Error"]["Code"] == "InternalFailure"
        assert f"the upstream {url} did not answer" in e.value.response["Error"]["Message"]
        # Fixtures still answer first: the translator's own set matches this one.
        r = aws_client("bedrock-runtime", translator.url).converse(modelId=MODEL, messages=user("ramble"))
        assert r["output"]["message"]["content"] == [{"text": "On and on and"}]
    finally:
        translator.stop()
        upstream.stop()


def test_credentials_in_the_url_are_refused():
    with pytest.raises(RuntimeError, match="credentials do not belong in the URL"):
        Server("--upstream-openai", "http://user:secret@127.0.0.1:9/v1")
