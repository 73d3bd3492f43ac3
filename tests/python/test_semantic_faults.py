"""Semantic faults (model misbehaviour) seen through the real clients: the openai SDK, boto3's
converse / converse_stream, the anthropic SDK, strands-agents (on the Bedrock and OpenAI wires) and
LangChain's ChatBedrockConverse. Each test asserts what the client parsed, and where the library has
one, the path the real misbehaviour takes in it (strands' tool-error results, its
MaxTokensReachedException, openai's ContentFilterFinishReasonError, LangChain's invalid tool calls).

The fault is chosen per request with `X-Mockmodel-Fault: <kind>`, per fixture with `semanticFault`,
or as a server default with `--semantic-fault KIND[=RATE][@TIMES]`."""
import json
import os
import re

import anthropic
import boto3
import openai
import pytest
from botocore.config import Config
from openai import OpenAI
from pydantic import BaseModel

from conftest import Server, aws_client

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
REFUSAL = "I'm sorry, but I can't help with that request."
SUNNY = "It is sunny in Paris."
HELLO = "Hello! How can I help you today?"

FIXTURES = """
fixtures:
  - match: {userMessage: "weather", hasToolResult: true}
    response: {content: "It is sunny in Paris."}
  - match: {userMessage: "weather"}
    response:
      toolCalls: [{name: get_weather, arguments: {city: Paris, unit: celsius}, id: call_w1}]
  - match: {userMessage: "always refuse"}
    semanticFault: {kind: refusal}
    response: {content: "Sure, here it is."}
  - match: {userMessage: "twice empty"}
    semanticFault: {kind: emptyResponse, times: 2}
    response: {content: "Finally an answer."}
  - match: {userMessage: "hello"}
    response: {content: "Hello! How can I help you today?"}
"""

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
    "required": ["city"],
}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
CONVERSE_TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER_SCHEMA}}}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("semantic") / "semantic.yaml"
    path.write_text(FIXTURES)
    s = Server("--fixtures", str(path))
    yield s
    s.stop()


def fault(kind):
    return {"X-Mockmodel-Fault": kind}


@pytest.fixture
def oai(server):
    return OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)


@pytest.fixture
def bedrock(server):
    return aws_client("bedrock-runtime", server.url)


def with_headers(client, headers):
    """Adds request headers to every call of a boto3 client (botocore's own event hook)."""

    def add(params, **_):
        params["headers"].update(headers)

    client.meta.events.register("before-call", add)
    return client


def weather_call(oai, kind, **kw):
    return oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=OPENAI_TOOLS,
        extra_headers=fault(kind),
        **kw,
    )


def faults_total(server, kind):
    m = re.search(rf'mockmodel_faults_total{{kind="{kind}"}} (\d+)', server.get_text("/metrics"))
    return int(m.group(1)) if m else 0


# --- openai SDK: Chat Completions --------------------------------------------------------------


def test_openai_tool_argument_faults(oai):
    call = weather_call(oai, "toolArgsInvalidJson").choices[0].message.tool_calls[0]
    assert call.function.arguments == '{"city":"Paris","unit":"celsius",}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.function.arguments)

    # The schema the request declared requires `city`: it is the property left out.
    call = weather_call(oai, "toolArgsSchemaViolation").choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"unit": "celsius"}

    msg = weather_call(oai, "toolUnknownName").choices[0].message
    assert msg.tool_calls[0].function.name == "get_weather_unknown"
    assert msg.tool_calls[0].function.name not in [t["function"]["name"] for t in OPENAI_TOOLS]

    calls = weather_call(oai, "toolCallIdDuplicate").choices[0].message.tool_calls
    assert [c.id for c in calls] == ["call_w1", "call_w1"]


def test_openai_stream_stops_at_length_inside_the_tool_arguments(oai):
    stream = weather_call(oai, "stopAtMaxTokensMidTool", stream=True)
    args, finish = "", None
    for chunk in stream:
        choice = chunk.choices[0]
        for tc in choice.delta.tool_calls or []:
            args += tc.function.arguments or ""
        finish = choice.finish_reason or finish
    assert finish == "length"
    assert args == '{"city":"Paris",'
    with pytest.raises(json.JSONDecodeError):
        json.loads(args)


def test_openai_refusal_is_message_refusal_and_parse_sees_it(oai):
    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers=fault("refusal"))
    msg = r.choices[0].message
    assert (msg.content, msg.refusal, r.choices[0].finish_reason) == (None, REFUSAL, "stop")

    class Answer(BaseModel):
        text: str

    parsed = oai.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}], response_format=Answer, extra_headers=fault("refusal")
    )
    assert parsed.choices[0].message.parsed is None
    assert parsed.choices[0].message.refusal == REFUSAL

    stream = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}], stream=True, extra_headers=fault("refusal")
    )
    deltas = [c.choices[0].delta for c in stream]
    assert "".join(d.refusal or "" for d in deltas) == REFUSAL
    assert all(not d.content for d in deltas)


def test_openai_content_filter_is_the_sdk_content_filter_error(oai):
    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers=fault("contentFilter"))
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].message.content == HELLO[: len(HELLO) // 2]
    full = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert 1 <= r.usage.completion_tokens < full.usage.completion_tokens

    class Answer(BaseModel):
        text: str

    with pytest.raises(openai.ContentFilterFinishReasonError):
        oai.chat.completions.parse(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}], response_format=Answer, extra_headers=fault("contentFilter")
        )


def test_openai_empty_and_reasoning_only_answers(oai):
    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers=fault("emptyResponse"))
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("", "stop")
    # Usage counts the answer sent, not the fixture's: an empty answer is the counter's one token.
    full = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert r.usage.completion_tokens == 1 < full.usage.completion_tokens
    assert r.usage.prompt_tokens == full.usage.prompt_tokens

    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers=fault("reasoningOnly"))
    msg = r.choices[0].message
    assert msg.content is None and not msg.tool_calls
    assert msg.model_extra["reasoning_content"] == HELLO


def test_openai_responses_refusal_is_a_refusal_part(oai):
    r = oai.responses.create(model="gpt-4o", input="hello", extra_headers=fault("refusal"))
    assert r.output[0].content[0].type == "refusal"
    assert r.output[0].content[0].refusal == REFUSAL
    stream = oai.responses.create(model="gpt-4o", input="hello", stream=True, extra_headers=fault("refusal"))
    events = list(stream)
    assert "".join(e.delta for e in events if e.type == "response.refusal.delta") == REFUSAL
    assert events[-1].response.output[0].content[0].refusal == REFUSAL


def test_openai_responses_tool_faults(oai):
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
    r = oai.responses.create(model="gpt-4o", input="weather in Paris?", tools=tools, extra_headers=fault("toolUnknownName"))
    assert [(o.type, o.name) for o in r.output] == [("function_call", "get_weather_unknown")]
    r = oai.responses.create(model="gpt-4o", input="weather in Paris?", tools=tools, extra_headers=fault("toolArgsSchemaViolation"))
    assert json.loads(r.output[0].arguments) == {"unit": "celsius"}
    r = oai.responses.create(model="gpt-4o", input="weather in Paris?", tools=tools, extra_headers=fault("stopAtMaxTokensMidTool"))
    assert (r.status, r.incomplete_details.reason, r.output[0].arguments) == ("incomplete", "max_output_tokens", '{"city":"Paris",')


def test_anthropic_refusal_stop_reason(server):
    client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
    m = client.messages.create(
        model="claude-sonnet-4-5-20250929",
        max_tokens=100,
        messages=[{"role": "user", "content": "hello"}],
        extra_headers=fault("refusal"),
    )
    assert m.stop_reason == "refusal"
    assert m.content[0].text == REFUSAL

    from langchain_anthropic import ChatAnthropic

    llm = ChatAnthropic(
        model="claude-sonnet-4-5", base_url=server.url, api_key="test", max_retries=0, default_headers=fault("contentFilter")
    )
    reply = llm.invoke("hello")
    assert (reply.content, reply.response_metadata["stop_reason"]) == (HELLO[: len(HELLO) // 2], "refusal")


# --- boto3: Converse and ConverseStream -------------------------------------------------------


def converse(bedrock, kind, text="weather in Paris?"):
    return with_headers(bedrock, fault(kind)).converse(
        modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": text}]}], toolConfig=CONVERSE_TOOLS
    )


def test_converse_tool_faults(bedrock):
    r = converse(bedrock, "toolArgsSchemaViolation")
    assert r["output"]["message"]["content"][0]["toolUse"]["input"] == {"unit": "celsius"}
    r = converse(bedrock, "toolUnknownName")
    assert r["output"]["message"]["content"][0]["toolUse"]["name"] == "get_weather_unknown"
    r = converse(bedrock, "toolCallIdDuplicate")
    assert [b["toolUse"]["toolUseId"] for b in r["output"]["message"]["content"]] == ["call_w1", "call_w1"]
    assert r["stopReason"] == "tool_use"


def test_converse_answer_faults(bedrock):
    r = converse(bedrock, "contentFilter", "hello")
    assert r["stopReason"] == "content_filtered"
    assert r["output"]["message"]["content"] == [{"text": HELLO[: len(HELLO) // 2]}]
    # Converse's StopReason enum has no refusal: the model's refusal is its text, ending its turn.
    r = converse(bedrock, "refusal", "hello")
    assert (r["stopReason"], r["output"]["message"]["content"]) == ("end_turn", [{"text": REFUSAL}])
    r = converse(bedrock, "emptyResponse", "hello")
    assert (r["stopReason"], r["output"]["message"]["content"]) == ("end_turn", [])
    r = converse(bedrock, "reasoningOnly", "hello")
    assert r["output"]["message"]["content"] == [{"reasoningContent": {"reasoningText": {"text": HELLO}}}]


def stream_events(bedrock, kind):
    r = with_headers(bedrock, fault(kind)).converse_stream(
        modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "weather in Paris?"}]}], toolConfig=CONVERSE_TOOLS
    )
    return list(r["stream"])


def test_converse_stream_invalid_json_and_max_tokens_mid_tool(bedrock):
    events = stream_events(bedrock, "toolArgsInvalidJson")
    raw = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert raw == '{"city":"Paris","unit":"celsius",}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)

    events = stream_events(bedrock, "stopAtMaxTokensMidTool")
    raw = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert raw == '{"city":"Paris",'
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["max_tokens"]


# --- boto3: InvokeModel (Anthropic family) and SageMaker formats ------------------------------


def test_invoke_model_anthropic_refusal_and_max_tokens_mid_tool(bedrock):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
    }
    r = with_headers(bedrock, fault("refusal")).invoke_model(modelId=CLAUDE, body=json.dumps(body))
    out = json.loads(r["body"].read())
    assert (out["stop_reason"], out["content"]) == ("refusal", [{"type": "text", "text": REFUSAL}])

    sm = boto3.client("bedrock-runtime", endpoint_url=bedrock.meta.endpoint_url, region_name="us-east-1", **CREDS)
    r = with_headers(sm, fault("stopAtMaxTokensMidTool")).invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in r["body"]]
    partial = "".join(e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta")
    assert partial == '{"city":"Paris",'
    assert [e["delta"]["stop_reason"] for e in events if e["type"] == "message_delta"] == ["max_tokens"]


def test_sagemaker_openai_and_tgi_formats(server):
    sm = aws_client("sagemaker-runtime", server.url)
    chat = json.dumps({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 64})
    r = with_headers(sm, fault("contentFilter")).invoke_endpoint(EndpointName="llama-endpoint", Body=chat)
    choice = json.loads(r["Body"].read())["choices"][0]
    assert (choice["finish_reason"], choice["message"]["content"]) == ("content_filter", HELLO[: len(HELLO) // 2])

    sm = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1", **CREDS)
    r = with_headers(sm, fault("emptyResponse")).invoke_endpoint(EndpointName="tgi", Body=json.dumps({"inputs": "hello"}))
    assert json.loads(r["Body"].read()) == [{"generated_text": ""}]


# --- fixture, defaults, times, seed, metrics ----------------------------------------------------


def test_fixture_fault_with_times_then_the_fixture_answer(oai, server):
    ask = lambda text: oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])  # noqa: E731
    assert ask("always refuse").choices[0].message.refusal == REFUSAL
    assert ask("always refuse").choices[0].message.refusal == REFUSAL
    before = faults_total(server, "emptyResponse")
    assert [ask("twice empty").choices[0].message.content for _ in range(3)] == ["", "", "Finally an answer."]
    assert faults_total(server, "emptyResponse") == before + 2
    # The journal says which answers carried which fault.
    entries = server.get_json("/__mockmodel/journal")["entries"]
    assert [e.get("faults", []) for e in entries] == [["refusal"], ["refusal"], ["emptyResponse"], ["emptyResponse"], []]


def test_not_applicable_faults_leave_the_answer_alone_and_are_not_counted(oai, server):
    before = faults_total(server, "toolUnknownName")
    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers=fault("toolUnknownName"))
    assert r.choices[0].message.content == HELLO
    assert faults_total(server, "toolUnknownName") == before


def test_server_default_rate_is_deterministic_with_the_seed(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(FIXTURES)
    s = Server("--fixtures", str(path), "--semantic-fault", "refusal=0.5")
    try:
        client = OpenAI(base_url=s.url + "/v1", api_key="test", max_retries=0)

        def refused(seed):
            r = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers={"X-Mockmodel-Seed": str(seed)}
            )
            return r.choices[0].message.refusal == REFUSAL

        decisions = [refused(seed) for seed in range(16)]
        assert decisions == [refused(seed) for seed in range(16)]
        assert True in decisions and False in decisions
        assert faults_total(s, "refusal") == 2 * decisions.count(True)
    finally:
        s.stop()


# --- strands-agents -----------------------------------------------------------------------------


def strands_bedrock(server, headers, streaming=True):
    from strands.models import BedrockModel

    model = BedrockModel(
        model_id="us.anthropic.claude-sonnet-4-20250514-v1:0",
        endpoint_url=server.url,
        boto_session=boto3.Session(region_name="us-east-1", **CREDS),
        boto_client_config=Config(retries={"total_max_attempts": 1}),
        streaming=streaming,
    )
    with_headers(model.client, headers)
    return model


def strands_openai(server, headers):
    from strands.models.openai import OpenAIModel

    args = {"base_url": server.url + "/v1", "api_key": "x", "max_retries": 0, "default_headers": headers}
    return OpenAIModel(client_args=args, model_id="gpt-4o")


def run_weather_agent(model):
    """Runs a strands agent with a get_weather tool; returns (tool calls made, the tool results
    strands sent back to the model, the result)."""
    from strands import Agent, tool

    calls = []

    @tool
    def get_weather(city: str, unit: str = "celsius") -> str:
        """Current weather of a city."""
        calls.append(city)
        return f"clear skies over {city}"

    agent = Agent(model=model, tools=[get_weather], callback_handler=None)
    result = agent("What's the weather in Paris?")
    results = [b["toolResult"] for m in agent.messages for b in m["content"] if "toolResult" in b]
    return calls, results, result


def tool_result_text(r):
    return " ".join(c.get("text", "") for c in r["content"])


@pytest.mark.parametrize("wire", ["bedrock", "openai"])
def test_strands_tool_argument_faults_take_the_tool_error_path(server, wire):
    """Unparseable or schema-breaking arguments never reach the tool: strands answers the model with
    an error tool result (its argument validation), and the agent finishes on the next turn."""
    make = strands_bedrock if wire == "bedrock" else strands_openai
    for kind in ["toolArgsInvalidJson", "toolArgsSchemaViolation"]:
        calls, results, result = run_weather_agent(make(server, fault(kind)))
        assert calls == [], kind
        assert [r["status"] for r in results] == ["error"], kind
        assert "city" in tool_result_text(results[0]), kind
        assert str(result).strip() == SUNNY


def test_strands_unknown_tool_is_reported_back_to_the_model(server):
    calls, results, result = run_weather_agent(strands_bedrock(server, fault("toolUnknownName")))
    assert calls == []
    assert [r["status"] for r in results] == ["error"]
    assert tool_result_text(results[0]) == "Unknown tool: get_weather_unknown"
    assert str(result).strip() == SUNNY


@pytest.mark.parametrize("wire", ["bedrock", "openai"])
def test_strands_max_tokens_mid_tool_raises(server, wire):
    from strands.types.exceptions import MaxTokensReachedException

    make = strands_bedrock if wire == "bedrock" else strands_openai
    with pytest.raises(MaxTokensReachedException):
        run_weather_agent(make(server, fault("stopAtMaxTokensMidTool")))


def test_strands_content_filter_and_refusal(server):
    from strands import Agent

    result = Agent(model=strands_bedrock(server, fault("contentFilter")), callback_handler=None)("hello")
    assert result.stop_reason == "content_filtered"
    result = Agent(model=strands_openai(server, fault("contentFilter")), callback_handler=None)("hello")
    assert result.stop_reason == "content_filtered"
    result = Agent(model=strands_bedrock(server, fault("refusal")), callback_handler=None)("hello")
    assert (str(result).strip(), result.stop_reason) == (REFUSAL, "end_turn")


@pytest.mark.parametrize("wire", ["bedrock", "openai"])
def test_strands_empty_and_reasoning_only_answers_and_duplicate_ids(server, wire):
    from strands import Agent

    make = strands_bedrock if wire == "bedrock" else strands_openai
    # Both end the turn normally with no text: the agent's answer is the empty string.
    r = Agent(model=make(server, fault("emptyResponse")), callback_handler=None)("hello")
    assert (str(r), r.message["content"], r.stop_reason) == ("", [], "end_turn")
    r = Agent(model=make(server, fault("reasoningOnly")), callback_handler=None)("hello")
    assert str(r) == ""
    assert r.message["content"] == [{"reasoningContent": {"reasoningText": {"text": HELLO}}}]
    # Two calls under one id: strands runs the tool twice and answers both under that id.
    calls, results, _ = run_weather_agent(make(server, fault("toolCallIdDuplicate")))
    assert calls == ["Paris", "Paris"]
    assert [(r["toolUseId"], r["status"]) for r in results] == [("call_w1", "success")] * 2


def test_strands_openai_model_drops_a_refusal(server):
    """strands' OpenAIModel reads no `refusal` deltas: an OpenAI refusal reaches the agent as an
    empty answer (the same fault on Bedrock is the refusal text)."""
    from strands import Agent

    r = Agent(model=strands_openai(server, fault("refusal")), callback_handler=None)("hello")
    assert (str(r), r.message["content"], r.stop_reason) == ("", [], "end_turn")


# --- LangChain ----------------------------------------------------------------------------------


def langchain_bedrock(server, kind):
    from langchain_aws import ChatBedrockConverse

    llm = ChatBedrockConverse(model=CLAUDE, endpoint_url=server.url, region_name="us-east-1", **CREDS)
    with_headers(llm.client, fault(kind))
    return llm.bind_tools([{"name": "get_weather", "description": "Weather of a city.", "input_schema": WEATHER_SCHEMA}])


def test_langchain_bedrock_tool_faults(server):
    msg = langchain_bedrock(server, "toolUnknownName").invoke("weather in Paris?")
    assert [c["name"] for c in msg.tool_calls] == ["get_weather_unknown"]
    msg = langchain_bedrock(server, "toolArgsSchemaViolation").invoke("weather in Paris?")
    assert msg.tool_calls[0]["args"] == {"unit": "celsius"}

    # Streamed, the unparseable arguments become LangChain's invalid tool call.
    chunks = list(langchain_bedrock(server, "toolArgsInvalidJson").stream("weather in Paris?"))
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.tool_calls == []
    assert [(c["name"], c["args"]) for c in whole.invalid_tool_calls] == [("get_weather", '{"city":"Paris","unit":"celsius",}')]


def test_langchain_bedrock_stop_reasons(server):
    msg = langchain_bedrock(server, "stopAtMaxTokensMidTool").invoke("weather in Paris?")
    assert msg.response_metadata["stopReason"] == "max_tokens"
    msg = langchain_bedrock(server, "contentFilter").invoke("hello")
    assert msg.response_metadata["stopReason"] == "content_filtered"
    assert msg.content == HELLO[: len(HELLO) // 2]
