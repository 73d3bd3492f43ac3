"""boto3, strands-agents and LangChain against mockmodel-server's Bedrock Runtime routes, unchanged
apart from endpoint_url.

Every test asserts what the client library parsed: converse output, streamed events re-assembled,
tool calls, usage, error codes and the libraries' own exception classes."""
import base64
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from conftest import run_node

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
HELLO = "Hello! How can I help you today?"
UNICODE = "Café naïve — 東京の天気は晴れ 🌤️👍🏽 done"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture
def client(server):
    # One attempt in total: a 429/503 must surface as an error, not be retried away.
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
        **CREDS,
    )


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


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


# --- boto3 ------------------------------------------------------------------------------------


def test_converse_text_usage_and_request_id(client):
    r = client.converse(modelId=CLAUDE, messages=user("hello there"), inferenceConfig={"maxTokens": 100})
    assert r["output"]["message"] == {"role": "assistant", "content": [{"text": HELLO}]}
    assert r["stopReason"] == "end_turn"
    u = r["usage"]
    assert u["inputTokens"] > 0 and u["outputTokens"] > 0
    assert u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
    assert r["metrics"]["latencyMs"] >= 1
    assert r["ResponseMetadata"]["RequestId"]


def test_image_and_document_blocks_are_accepted_and_ignored_for_matching(client):
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    messages = [
        {
            "role": "user",
            "content": [
                {"image": {"format": "png", "source": {"bytes": png}}},
                {"document": {"format": "txt", "name": "notes", "source": {"bytes": b"some notes"}}},
                {"text": "hello, see attached"},
            ],
        }
    ]
    r = client.converse(
        modelId=CLAUDE,
        messages=messages,
        system=[{"text": "You are terse."}],
        inferenceConfig={"maxTokens": 50, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
    )
    assert r["output"]["message"]["content"] == [{"text": HELLO}]


def test_converse_stream_events_in_order(client):
    events = list(client.converse_stream(modelId=CLAUDE, messages=user("hello"))["stream"])
    names = [next(iter(e)) for e in events]
    # chunkSize 5: seven text deltas; no contentBlockStart for text.
    assert names == ["messageStart"] + ["contentBlockDelta"] * 7 + ["contentBlockStop", "messageStop", "metadata"]
    assert events[0]["messageStart"] == {"role": "assistant"}
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:8]) == HELLO
    assert all(e["contentBlockDelta"]["contentBlockIndex"] == 0 for e in events[1:8])
    assert events[8]["contentBlockStop"] == {"contentBlockIndex": 0}
    assert events[9]["messageStop"] == {"stopReason": "end_turn"}
    meta = events[10]["metadata"]
    assert meta["usage"]["totalTokens"] > 0 and meta["metrics"]["latencyMs"] >= 1


def test_unicode_split_across_stream_chunks_arrives_intact(client):
    events = client.converse_stream(modelId=CLAUDE, messages=user("unicode please"))["stream"]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert len(deltas) > 5
    assert "".join(deltas) == UNICODE


def test_converse_tool_call_then_tool_result(client):
    messages = user("What's the weather in Paris?")
    r = client.converse(modelId=CLAUDE, messages=messages, toolConfig=WEATHER_TOOL)
    assert r["stopReason"] == "tool_use"
    call = r["output"]["message"]["content"][0]["toolUse"]
    assert call == {"toolUseId": "call_weather_1", "name": "get_weather", "input": {"city": "Paris"}}
    messages += [
        r["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": call["toolUseId"], "content": [{"json": {"sky": "clear"}}]}}]},
    ]
    r = client.converse(modelId=CLAUDE, messages=messages, toolConfig=WEATHER_TOOL)
    assert r["output"]["message"]["content"] == [{"text": "It is sunny and 22°C in Paris."}]
    assert r["stopReason"] == "end_turn"


def test_converse_stream_tool_use(client):
    events = list(client.converse_stream(modelId=CLAUDE, messages=user("weather in Paris?"), toolConfig=WEATHER_TOOL)["stream"])
    start = events[1]["contentBlockStart"]
    assert start == {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "call_weather_1", "name": "get_weather"}}}
    args = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert json.loads(args) == {"city": "Paris"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_reasoning_with_signature(client):
    r = client.converse(modelId=CLAUDE, messages=user("signed thought"))
    assert r["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Let me think this through.", "signature": "c2lnbmF0dXJl"}}},
        {"text": "Done thinking."},
    ]
    events = client.converse_stream(modelId=CLAUDE, messages=user("signed thought"))["stream"]
    reasoning = [e["contentBlockDelta"]["delta"]["reasoningContent"] for e in events if "contentBlockDelta" in e and "reasoningContent" in e["contentBlockDelta"]["delta"]]
    assert "".join(r.get("text", "") for r in reasoning) == "Let me think this through."
    assert reasoning[-1] == {"signature": "c2lnbmF0dXJl"}


def test_throttling_is_a_client_error_with_the_aws_code(client):
    for call in (client.converse, client.converse_stream):
        with pytest.raises(ClientError) as e:
            call(modelId=CLAUDE, messages=user("throttle me"))
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
        assert e.value.response["Error"]["Message"] == "Rate exceeded"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_a_conversation_that_breaks_the_turn_rules_is_a_validation_exception(client):
    # Bedrock rejects these before any model runs; an agent whose history is malformed must fail here too.
    hello = user("hello")[0]
    answer = {"role": "assistant", "content": [{"text": "Hi"}]}
    for messages, text in [
        ([answer, hello], "A conversation must start with a user message."),
        ([hello, hello], "A conversation must alternate between user and assistant roles."),
        ([hello, answer, answer, hello], "A conversation must alternate between user and assistant roles."),
    ]:
        for call in (client.converse, client.converse_stream):
            with pytest.raises(ClientError) as e:
                call(modelId=CLAUDE, messages=messages)
            assert e.value.response["Error"]["Code"] == "ValidationException"
            assert e.value.response["Error"]["Message"].startswith(text)
    r = client.converse(modelId=CLAUDE, messages=[hello, answer, hello])
    assert r["output"]["message"]["content"] == [{"text": HELLO}]


def test_mid_stream_error_is_an_event_stream_exception(client):
    stream = client.converse_stream(modelId=CLAUDE, messages=user("midstream"))["stream"]
    deltas = []
    with pytest.raises(EventStreamError) as e:
        for event in stream:
            if "contentBlockDelta" in event:
                deltas.append(event["contentBlockDelta"]["delta"]["text"])
    assert deltas == ["This", " ans"]
    assert e.value.response["Error"]["Code"] == "throttlingException"
    assert e.value.response["Error"]["Message"] == "Rate exceeded mid-stream"


def test_model_id_is_percent_decoded_before_matching(client, server):
    r = client.converse(modelId=CLAUDE, messages=user("which model"))
    assert r["output"]["message"]["content"][0]["text"] == "You are talking to Claude 3 Haiku."
    assert server.get_json("/__mockmodel/journal")["entries"][-1]["model"] == CLAUDE


def test_invoke_model_anthropic_body_and_headers(client):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]}
    r = client.invoke_model(modelId="us." + CLAUDE, body=json.dumps(body))
    out = json.loads(r["body"].read())
    assert out["type"] == "message" and out["role"] == "assistant"
    assert out["content"] == [{"type": "text", "text": HELLO}]
    assert out["stop_reason"] == "end_turn"
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == out["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == out["usage"]["output_tokens"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 1


def test_invoke_model_anthropic_body_without_required_keys_is_a_validation_exception(client):
    # Bedrock checks the Anthropic request schema before the model runs: forgetting max_tokens fails.
    for body in [
        {"anthropic_version": "bedrock-2023-05-31", "messages": [{"role": "user", "content": "hello"}]},
        {"max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]},
    ]:
        for call in (client.invoke_model, client.invoke_model_with_response_stream):
            with pytest.raises(ClientError) as e:
                call(modelId=CLAUDE, body=json.dumps(body))
            assert e.value.response["Error"]["Code"] == "ValidationException"
            assert e.value.response["Error"]["Message"].startswith("Malformed input request: #: required key [")


def test_invoke_model_with_response_stream_chunks_are_base64_anthropic_events(client):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]}
    r = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
    assert r["contentType"] == "application/json"
    events = [json.loads(e["chunk"]["bytes"]) for e in r["body"]]
    types = [e["type"] for e in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == HELLO
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] > 0 and metrics["outputTokenCount"] > 0


def test_invoke_model_titan_and_llama_bodies(client):
    r = client.invoke_model(modelId="amazon.titan-text-express-v1", body=json.dumps({"inputText": "hello"}))
    assert json.loads(r["body"].read())["results"][0]["outputText"] == HELLO
    prompt = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    r = client.invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body=json.dumps({"prompt": prompt}))
    assert json.loads(r["body"].read())["generation"] == HELLO


def test_invoke_model_of_an_unspoken_family_is_refused_not_answered_in_another_dialect(client):
    # ai21 Jamba and OpenAI gpt-oss send {"messages"}: answering them with an Anthropic body would
    # pass a test that production fails. Ids that name no model (ARNs of profiles) still go by the body.
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}
    for model in ["ai21.jamba-1-5-mini-v1:0", "us.deepseek.r1-v1:0", "openai.gpt-oss-20b-1:0"]:
        with pytest.raises(ClientError) as e:
            client.invoke_model(modelId=model, body=json.dumps(body))
        assert e.value.response["Error"]["Code"] == "ValidationException", model
        assert model in e.value.response["Error"]["Message"]
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    r = client.invoke_model(modelId=arn, body=json.dumps({"anthropic_version": "bedrock-2023-05-31", **body}))
    assert json.loads(r["body"].read())["content"] == [{"type": "text", "text": HELLO}]


def test_langchain_bedrock_embeddings_titan_and_cohere(server):
    # Titan Embeddings sends {"inputText"} like Titan Text does: the model id, not the body, says
    # which answer it gets. The "fixed vector" fixture answers both; other texts embed deterministically.
    from langchain_aws import BedrockEmbeddings

    for model, dims in [("amazon.titan-embed-text-v2:0", 1024), ("amazon.titan-embed-text-v1", 1536), ("cohere.embed-english-v3", 1024)]:
        emb = BedrockEmbeddings(model_id=model, endpoint_url=server.url, region_name="us-east-1", **CREDS)
        assert emb.embed_query("a fixed vector please") == [0.5, -0.25, 0.125], model
        docs = emb.embed_documents(["one", "two", "one"])
        assert [len(d) for d in docs] == [dims] * 3, model
        assert docs[0] == docs[2] != docs[1], model
        assert abs(sum(x * x for x in docs[0]) - 1.0) < 1e-3, model


def test_invoke_model_embedding_bodies_and_no_stream(client):
    r = client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello", "dimensions": 256, "embeddingTypes": ["float"]}))
    out = json.loads(r["body"].read())
    assert len(out["embedding"]) == 256 and out["embeddingsByType"]["float"] == out["embedding"]
    assert out["inputTextTokenCount"] == int(r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"]) > 0
    body = {"texts": ["a", "b"], "input_type": "search_query", "embedding_types": ["float", "int8"]}
    out = json.loads(client.invoke_model(modelId="cohere.embed-multilingual-v3", body=json.dumps(body))["body"].read())
    assert out["response_type"] == "embeddings_by_type" and out["texts"] == ["a", "b"]
    assert [len(v) for v in out["embeddings"]["float"]] == [1024, 1024]
    assert all(isinstance(x, int) and -128 <= x <= 127 for x in out["embeddings"]["int8"][0])
    with pytest.raises(ClientError) as e:
        client.invoke_model_with_response_stream(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello"}))
    assert e.value.response["Error"]["Code"] == "ValidationException"


# --- strands-agents -----------------------------------------------------------------------------


def strands_model(server, streaming):
    from strands.models import BedrockModel

    session = boto3.Session(region_name="us-east-1", **CREDS)
    return BedrockModel(
        model_id="us.anthropic.claude-sonnet-4-20250514-v1:0",
        endpoint_url=server.url,
        boto_session=session,
        boto_client_config=Config(retries={"total_max_attempts": 1}),
        streaming=streaming,
    )


@pytest.mark.parametrize("streaming", [True, False])
def test_strands_agent_returns_the_fixture_text(server, streaming):
    from strands import Agent

    agent = Agent(model=strands_model(server, streaming), callback_handler=None)
    result = agent("hello")
    assert str(result).strip() == HELLO
    assert result.stop_reason == "end_turn"


@pytest.mark.parametrize("streaming", [True, False])
def test_strands_tool_round_trip(server, streaming):
    from strands import Agent, tool

    calls = []

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        calls.append(city)
        return f"clear skies over {city}"

    agent = Agent(model=strands_model(server, streaming), tools=[get_weather], callback_handler=None)
    result = agent("What's the weather in Paris?")
    assert calls == ["Paris"]
    assert str(result).strip() == "It is sunny and 22°C in Paris."
    fixtures = [e["fixture"] for e in server.get_json("/__mockmodel/journal")["entries"]]
    assert len(fixtures) == 2 and fixtures[0] != fixtures[1]


def test_strands_throttling_raises_model_throttled(server):
    from strands import Agent
    from strands.types.exceptions import ModelThrottledException

    agent = Agent(model=strands_model(server, True), callback_handler=None, retry_strategy=None)
    with pytest.raises(ModelThrottledException):
        agent("throttle me")


def test_strands_streams_unicode_intact(server):
    from strands import Agent

    pieces = []

    def on_event(**kwargs):
        if "data" in kwargs:
            pieces.append(kwargs["data"])

    agent = Agent(model=strands_model(server, True), callback_handler=on_event)
    result = agent("unicode please")
    assert len(pieces) > 5
    assert "".join(pieces) == UNICODE
    assert str(result).strip() == UNICODE


# --- LangChain ----------------------------------------------------------------------------------


def test_langchain_chat_bedrock_converse(server):
    from langchain_aws import ChatBedrockConverse

    llm = ChatBedrockConverse(
        model=CLAUDE,
        endpoint_url=server.url,
        region_name="us-east-1",
        **CREDS,
    )
    assert llm.invoke("hello").content == HELLO
    assert "".join(c.content if isinstance(c.content, str) else "".join(p.get("text", "") for p in c.content) for c in llm.stream("hello")) == HELLO


# --- AWS SDK for JavaScript v3 ------------------------------------------------------------------


def test_js_sdk_v3_default_http2_handler(server):
    out = run_node("bedrock_client.cjs", server.url)
    # The default handler is HTTP/2-only: every call below went over h2c prior knowledge.
    assert out["handler"] == "NodeHttp2Handler"
    assert out["converse"]["content"] == [{"text": HELLO}]
    assert out["converse"]["stopReason"] == "end_turn"
    assert out["converse"]["usage"]["totalTokens"] > 0
    names = [next(iter(e)) for e in out["events"]]
    assert names == ["messageStart"] + ["contentBlockDelta"] * 7 + ["contentBlockStop", "messageStop", "metadata"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in out["events"][1:8]) == HELLO
    assert out["error"] == {"name": "ThrottlingException", "message": "Rate exceeded", "status": 429}
    assert out["midstream"] == {
        "deltas": ["This", " ans"],
        "error": {"name": "ThrottlingException", "message": "Rate exceeded mid-stream"},
    }
    assert out["contentType"] == "application/json"
    assert "".join(c["delta"]["text"] for c in out["chunks"] if c["type"] == "content_block_delta") == HELLO
    assert "amazon-bedrock-invocationMetrics" in out["chunks"][-1]


def test_count_tokens_agrees_with_the_next_answers_usage(client):
    messages = [{"role": "user", "content": [{"text": "hello, how many tokens is this?"}]}]
    system = [{"text": "You are terse."}]
    counted = client.count_tokens(modelId=CLAUDE, input={"converse": {"messages": messages, "system": system}})
    answered = client.converse(modelId=CLAUDE, messages=messages, system=system)
    assert counted["inputTokens"] == answered["usage"]["inputTokens"] > 0
    body = json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "hello, how many tokens is this?"}],
    }).encode()
    counted = client.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": body}})
    invoked = client.invoke_model(modelId=CLAUDE, body=body)
    assert counted["inputTokens"] == int(invoked["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"])


def test_count_tokens_with_both_union_members_is_a_validation_exception(server):
    # botocore checks unions itself; with that off, the server's own check answers.
    unchecked = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
        **CREDS,
    )
    with pytest.raises(ClientError) as e:
        unchecked.count_tokens(
            modelId=CLAUDE,
            input={"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}, "invokeModel": {"body": b"{}"}},
        )
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'input'" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "text,exception",
    [
        ("count denied", "AccessDeniedException"),
        ("count missing", "ResourceNotFoundException"),
        ("count throttled", "ThrottlingException"),
        ("count broken", "InternalServerException"),
        ("count unavailable", "ServiceUnavailableException"),
        ("count invalid", "ValidationException"),
    ],
)
def test_every_error_count_tokens_lists_can_come_from_a_fixture(client, text, exception):
    messages = [{"role": "user", "content": [{"text": text}]}]
    with pytest.raises(getattr(client.exceptions, exception)) as e:
        client.count_tokens(modelId=CLAUDE, input={"converse": {"messages": messages}})
    assert e.value.response["Error"]["Code"] == exception
    # The same request over InvokeModel's body is matched the same way.
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8,
                       "messages": [{"role": "user", "content": text}]}).encode()
    with pytest.raises(getattr(client.exceptions, exception)):
        client.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": body}})
