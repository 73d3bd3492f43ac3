"""The Anthropic Messages wire (`/v1/messages`) driven by the real clients: the `anthropic` Python
SDK, `@anthropic-ai/sdk` in Node, strands-agents' `AnthropicModel` and LangChain's `ChatAnthropic`.
Each test asserts what the client parsed. Fixtures: tests/fixtures/anthropic.yaml."""
import json
import math

import anthropic
import pytest

from conftest import run_node

MODEL = "claude-sonnet-4-5"
HELLO = "Hello from the Messages API!"
SUNNY = "It is sunny and 22°C in Paris."
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(server):
    # No retries: an error must surface as the SDK's class, not be retried away.
    return anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0)


def ask(text):
    return [{"role": "user", "content": text}]


def test_create_parses_text_stop_reason_and_usage(client):
    m = client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude hello"))
    assert m.content[0].type == "text" and m.content[0].text == HELLO
    assert (m.type, m.role, m.model) == ("message", "assistant", MODEL)
    assert m.id.startswith("msg_")
    assert (m.stop_reason, m.stop_sequence) == ("end_turn", None)
    assert (m.usage.input_tokens, m.usage.output_tokens) == (12, 7)
    assert (m.usage.cache_creation_input_tokens, m.usage.cache_read_input_tokens) == (0, 0)
    assert m._request_id.startswith("req_")


def test_stream_text_deltas_join_to_the_fixture_and_the_final_message_matches(client):
    with client.messages.stream(model=MODEL, max_tokens=256, messages=ask("claude hello")) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) > 1
    assert "".join(deltas) == HELLO
    assert final.content[0].text == HELLO
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)


def test_raw_stream_events_arrive_in_the_apis_order(client):
    events = list(client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude hello"), stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert {e.delta.type for e in events if e.type == "content_block_delta"} == {"text_delta"}
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 7


@pytest.mark.parametrize("streaming", [False, True])
def test_tool_use_then_tool_result_round_trip(client, streaming):
    messages = ask("What is the claude weather in Paris?")
    if streaming:
        with client.messages.stream(model=MODEL, max_tokens=256, tools=[WEATHER_TOOL], messages=messages) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER_TOOL], messages=messages)
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    assert (call.type, call.name, call.input) == ("tool_use", "get_weather", {"city": "Paris"})
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 22°C"}]},
    ]
    answer = client.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER_TOOL], messages=messages)
    assert answer.content[0].text == SUNNY
    assert answer.stop_reason == "end_turn"


@pytest.mark.parametrize("streaming", [False, True])
def test_thinking_block_with_signature(client, streaming):
    kwargs = dict(model=MODEL, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                  messages=ask("claude ponder"))
    if streaming:
        with client.messages.stream(**kwargs) as s:
            m = s.get_final_message()
    else:
        m = client.messages.create(**kwargs)
    thinking, text = m.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "The user asks for the answer; it is 42."
    assert thinking.signature == "EqQBCkYIBxgCKkBmock"
    assert text.text == "42"


def test_stop_sequence_and_max_tokens_stop_reasons(client):
    m = client.messages.create(model=MODEL, max_tokens=256, stop_sequences=["three"], messages=ask("claude halt"))
    assert (m.stop_reason, m.stop_sequence) == ("stop_sequence", "three")
    m = client.messages.create(model=MODEL, max_tokens=5, messages=ask("claude long"))
    assert (m.stop_reason, m.stop_sequence) == ("max_tokens", None)


def test_count_tokens_is_the_estimate_the_usage_reports(client):
    system, text = "You are terse.", "claude weather in Paris, please"
    counted = client.messages.count_tokens(model=MODEL, system=system, messages=ask(text))
    assert counted.input_tokens == math.ceil((len(system) + len(text)) / 4)
    # A fixture without a usage override reports the same estimate as the message's input tokens.
    m = client.messages.create(model=MODEL, max_tokens=256, system=system, tools=[WEATHER_TOOL], messages=ask(text))
    assert m.usage.input_tokens == counted.input_tokens


def test_models_list_in_anthropics_shape(client):
    ids = [m.id for m in client.models.list()]
    assert "mockmodel" in ids


def test_rate_limit_is_a_rate_limit_error_with_retry_after(client):
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude throttle"))
    assert e.value.status_code == 429
    assert e.value.response.headers["retry-after"] == "1"
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert e.value.request_id.startswith("req_")


@pytest.mark.parametrize(
    "text,cls,status",
    [("claude overloaded", anthropic.OverloadedError, 529), ("claude broken", anthropic.InternalServerError, 500)],
)
def test_server_errors_take_the_sdks_classes(client, text, cls, status):
    with pytest.raises(cls) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=ask(text))
    assert e.value.status_code == status


def test_an_error_mid_stream_raises_while_iterating(client):
    seen = []
    with pytest.raises(anthropic.APIStatusError) as e:
        with client.messages.stream(model=MODEL, max_tokens=256, messages=ask("claude midstream")) as s:
            for t in s.text_stream:
                seen.append(t)
    assert "".join(seen) == "This ans"
    assert e.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_bad_input_is_a_bad_request_naming_the_field(client):
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=[])
    assert e.value.body["error"]["message"] == "messages: at least one message is required"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=[{"role": "user"}])
    assert e.value.body["error"]["message"] == "messages.0.content: Field required"


def test_no_matching_fixture_is_a_not_found_error(client):
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=ask("zzz nothing answers this"))
    assert "zzz nothing answers this" in e.value.body["error"]["message"]


# --- @anthropic-ai/sdk in Node -------------------------------------------------------------------


def test_node_sdk_create_and_stream(server):
    out = run_node("anthropic_client.cjs", server.url)
    assert out["create"]["content"] == [{"type": "text", "text": HELLO}]
    assert out["create"]["stop_reason"] == "end_turn"
    assert out["create"]["usage"]["input_tokens"] == 12 and out["create"]["usage"]["output_tokens"] == 7
    assert len(out["deltas"]) > 1 and "".join(out["deltas"]) == HELLO
    assert out["final"]["content"][0]["text"] == HELLO
    assert out["tool"] == {"name": "get_weather", "input": {"city": "Paris"}, "stop_reason": "tool_use"}
    assert out["error"] == {"name": "RateLimitError", "status": 429}


# --- strands-agents ------------------------------------------------------------------------------


def test_strands_anthropic_model_tool_round_trip(server):
    from strands import Agent, tool
    from strands.models.anthropic import AnthropicModel

    calls = []

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        calls.append(city)
        return f"clear skies over {city}"

    model = AnthropicModel(
        client_args={"base_url": server.url, "api_key": "test-key", "max_retries": 0},
        model_id=MODEL,
        max_tokens=1024,
    )
    agent = Agent(model=model, tools=[get_weather], callback_handler=None)
    result = agent("What is the claude weather in Paris?")
    assert calls == ["Paris"]
    assert str(result).strip() == SUNNY
    assert result.stop_reason == "end_turn"
    fixtures = [e["fixture"] for e in server.get_json("/__mockmodel/journal")["entries"]]
    assert len(fixtures) == 2 and fixtures[0] != fixtures[1]


# --- LangChain -----------------------------------------------------------------------------------


def test_langchain_chat_anthropic_invoke_and_stream(server):
    from langchain_anthropic import ChatAnthropic

    llm = ChatAnthropic(model=MODEL, base_url=server.url, api_key="test-key", max_retries=0)
    reply = llm.invoke("claude hello")
    assert reply.content == HELLO
    assert reply.response_metadata["stop_reason"] == "end_turn"
    assert reply.usage_metadata["input_tokens"] == 12 and reply.usage_metadata["output_tokens"] == 7
    assert "".join(c.text for c in llm.stream("claude hello")) == HELLO


# --- faults, through the same seam as every wire --------------------------------------------------


def test_fail_first_then_succeed_and_injected_unavailability_is_overloaded(client):
    h = {"X-Mockmodel-Fail-First": "1", "X-Test-Id": "anthropic-flaky"}
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude hello"), extra_headers=h)
    assert e.value.response.headers["retry-after"] == "1"
    m = client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude hello"), extra_headers=h)
    assert m.content[0].text == HELLO
    h = {"X-Mockmodel-Fail-First": "1", "X-Test-Id": "anthropic-down", "X-Mockmodel-Fail-With": "unavailable"}
    with pytest.raises(anthropic.OverloadedError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude hello"), extra_headers=h)
    assert (e.value.status_code, e.value.body["error"]["type"]) == (529, "overloaded_error")


def test_chaos_drop_is_an_api_error_and_a_malformed_stream_fails_the_parser(client):
    with pytest.raises(anthropic.InternalServerError) as e:
        client.messages.create(model=MODEL, max_tokens=256, messages=ask("claude hello"),
                               extra_headers={"X-AIMock-Chaos-Drop": "1"})
    assert (e.value.status_code, e.value.body["error"]["type"]) == (500, "api_error")
    with pytest.raises(json.JSONDecodeError):
        with client.messages.stream(model=MODEL, max_tokens=256, messages=ask("claude hello"),
                                    extra_headers={"X-Mockmodel-Fault": "malformed"}) as s:
            for _ in s.text_stream:
                pass
