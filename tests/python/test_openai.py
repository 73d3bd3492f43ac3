"""The OpenAI Python SDK, unchanged apart from base_url, against mockmodel-server.

Every test asserts what the SDK parsed: text, streamed deltas re-assembled, tool calls, usage and
the SDK's own exception classes."""
import json
import urllib.request

import httpx
import openai
import pytest
from openai import OpenAI


@pytest.fixture
def client(server):
    # max_retries=0: a 429/503 must surface as the SDK's exception, not be retried away.
    return OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)


def test_text_completion(client):
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello there"}])
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "Hello! How can I help you today?"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-4o"
    assert r.id.startswith("chatcmpl-")
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r._request_id.startswith("req_")  # the SDK reads OpenAI's x-request-id


def test_a_message_written_role_last_reads_as_role_first(client):
    # The SDK sends each message dict in the order given: here `content` before `role`, as clients
    # that sort keys write it (the server reads ahead to `role`; issue 12).
    first = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello there"}])
    last = client.chat.completions.create(model="gpt-4o", messages=[{"content": "hello there", "role": "user"}])
    assert last.choices[0].message.content == first.choices[0].message.content == "Hello! How can I help you today?"
    assert last.usage.prompt_tokens == first.usage.prompt_tokens
    # A violation before the `role` that names its case is still refused in OpenAI's shape.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"content": 5, "role": "user"}])
    assert e.value.body["param"].startswith("messages[0]")


def test_streamed_text_reassembles_with_usage(client):
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! How can I help you today?"
    # chunkSize 5 in the fixture: one role chunk, 7 content chunks, one finish chunk, one usage chunk.
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 7
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_stream_helper_accumulates_the_final_message(client):
    with client.chat.completions.stream(model="gpt-4o", messages=[{"role": "user", "content": "hello"}]) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == "Hello! How can I help you today?"


def test_unicode_split_across_small_chunks_arrives_intact(client):
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "unicode"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "Café naïve — 東京の天気は晴れ 🌤️👍🏽 done"
    )


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_tool_call_then_tool_result_round_trip(client):
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    r = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id == "call_weather_1"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp": 22}'})
    r2 = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    assert r2.choices[0].message.content == "It is sunny and 22°C in Paris."
    assert r2.choices[0].finish_reason == "stop"


def test_streamed_tool_call_arguments_reassemble(client):
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS
    ) as s:
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_throttling_fixture_raises_rate_limit_error_with_retry_after(client):
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "throttle me"}])
    assert e.value.status_code == 429
    assert e.value.response.headers["retry-after"] == "7"
    assert e.value.body["type"] == "rate_limit_error"
    assert e.value.body["message"] == "Rate exceeded"


def test_a_named_error_without_a_status_is_raised_as_that_error(client):
    # aimock defaults a fixture error's status to 500; a rate_limit_error must still be a 429, or the
    # SDK raises InternalServerError (and retries it) where OpenAI would raise RateLimitError.
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "slow down"}])
    assert e.value.status_code == 429
    assert e.value.body["message"] == "Slow down"


def test_status_inside_error_is_honoured(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "bad request"}])
    assert e.value.body["message"] == "The prompt is invalid"


def test_no_match_is_not_found_naming_the_message_and_closest_fixtures(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello World"}])
    msg = e.value.body["message"]
    assert '"Hello World"' in msg
    assert 'userMessage "hello"' in msg


def test_malformed_json_is_a_bad_request(server):
    c = httpx.Client(base_url=server.url)
    r = c.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": "hi"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages"


def test_missing_messages_raises_bad_request_error(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "wizard", "content": "x"}])


def test_empty_messages_is_a_bad_request_even_with_a_catch_all_fixture(tmp_path):
    from conftest import Server

    (tmp_path / "all.yaml").write_text("fixtures:\n  - response: {content: anything}\n")
    s = Server("--fixtures", str(tmp_path))
    try:
        client = OpenAI(base_url=s.url + "/v1", api_key="test", max_retries=0)
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="gpt-4o", messages=[])
        assert e.value.body["param"] == "messages" and e.value.body["code"] == "empty_array"
        assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]).choices[0].message.content == "anything"
    finally:
        s.stop()


def test_response_format_and_system_message_matching(client):
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(r.choices[0].message.content) == {"answer": 42, "unit": "none"}
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "persona"}],
    )
    assert r.choices[0].message.content == "Arr, matey!"


def test_usage_override_and_reasoning(client):
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "think"}])
    assert r.choices[0].message.content == "Thought about it: 4."
    assert r.usage.prompt_tokens == 11 and r.usage.completion_tokens == 22 and r.usage.total_tokens == 33
    assert r.choices[0].message.model_extra["reasoning_content"] == "The user wants me to think first."


def test_sequence_index_is_scoped_per_test_id(client):
    def ask(test_id):
        return client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "retry"}], extra_headers={"X-Test-Id": test_id}
        )

    with pytest.raises(openai.InternalServerError) as e:
        ask("a")
    assert e.value.status_code == 503
    with pytest.raises(openai.InternalServerError):
        ask("b")
    assert ask("a").choices[0].message.content == "Second time lucky."


def test_truncated_stream_raises_in_the_client(client):
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "truncate"}], stream=True
    )
    received = []
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "This str"


def test_embeddings_fixture_and_deterministic_vectors(client):
    r = client.embeddings.create(model="text-embedding-3-small", input="a fixed vector please")
    assert r.data[0].embedding == [0.5, -0.25, 0.125]
    a = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"], dimensions=16)
    b = client.embeddings.create(model="text-embedding-3-small", input=["one"], dimensions=16, encoding_format="float")
    assert len(a.data) == 2 and len(a.data[0].embedding) == 16
    assert a.data[0].embedding == pytest.approx(b.data[0].embedding)
    assert a.data[0].embedding != a.data[1].embedding
    assert a.usage.prompt_tokens > 0


def test_models_lists_a_model(client):
    ids = [m.id for m in client.models.list()]
    assert "mockmodel" in ids


def test_oversize_body_is_413_in_openai_shape(server):
    big = "x" * (11 * 1024 * 1024)
    r = httpx.post(server.url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": big}]})
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_journal_records_requests_and_metrics_count_them(client, server):
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}], extra_headers={"X-Test-Id": "journal"}
    )
    entries = server.get_json("/__mockmodel/journal")["entries"]
    assert entries[-1]["userMessage"] == "hello"
    assert entries[-1]["testId"] == "journal"
    assert entries[-1]["fixture"].endswith("chat.yaml#12")
    with urllib.request.urlopen(server.url + "/metrics") as r:
        metrics = r.read().decode()
    assert 'mockmodel_requests_total{method="POST",model="gpt-4o",route="/v1/chat/completions",status="200"}' in metrics
    assert "mockmodel_fixture_matches_total" in metrics


def test_strands_agent_on_openai_model_with_tool_round_trip(server):
    """strands-agents' OpenAIModel (streaming chat completions with include_usage) runs a whole
    agent loop: the tool call is parsed, the tool runs, and the second turn answers."""
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    calls = []

    @tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        calls.append(city)
        return '{"temp": 22, "sky": "sunny"}'

    model = OpenAIModel(client_args={"base_url": server.url + "/v1", "api_key": "x", "max_retries": 0}, model_id="gpt-4o")
    agent = Agent(model=model, tools=[get_weather], callback_handler=None)
    result = agent("What's the weather in Paris?")
    assert calls == ["Paris"]
    assert str(result).strip() == "It is sunny and 22°C in Paris."
    assert result.stop_reason == "end_turn"

    plain = Agent(model=model, callback_handler=None)("hello")
    assert str(plain).strip() == "Hello! How can I help you today?"
