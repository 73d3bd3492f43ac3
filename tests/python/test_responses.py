"""The OpenAI Responses API (`/v1/responses`) through the real clients, unchanged apart from the base
URL: the `openai` SDK (create, stream, retrieve, delete, errors), the OpenAI Agents SDK (its default
Responses model running a tool round trip) and the `openai` npm package.

Every test asserts what the client parsed. Fixtures: tests/fixtures/responses.yaml."""
import asyncio
import json

import openai
import pytest
from openai import OpenAI

from conftest import run_node

PLAIN = "Plain answer from the Responses API."
FORECAST_TOOL = {
    "type": "function",
    "name": "get_forecast",
    "description": "The forecast for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(server):
    # max_retries=0: a 429 must surface as the SDK's exception, not be retried away.
    return OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)


def test_responses_create_text_usage_and_status(client):
    r = client.responses.create(model="gpt-4o", input="resp plain", instructions="Be brief.")
    assert r.output_text == PLAIN
    assert r.status == "completed"
    assert r.id.startswith("resp_") and r.object == "response"
    assert r.model == "gpt-4o"
    assert r.instructions == "Be brief."
    assert r.error is None and r.incomplete_details is None
    msg = r.output[0]
    assert (msg.type, msg.role, msg.status) == ("message", "assistant", "completed")
    assert msg.id.startswith("msg_") and msg.content[0].annotations == []
    u = r.usage
    assert u.input_tokens > 0 and u.output_tokens > 0
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0
    assert u.output_tokens_details.reasoning_tokens == 0


def test_responses_stream_deltas_join_to_the_text_and_the_final_response(client):
    with client.responses.stream(model="gpt-4o", input=[{"role": "user", "content": "resp plain"}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == PLAIN
    assert len(deltas) == 6  # chunkSize 6
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == PLAIN and final.status == "completed"


def test_raw_stream_events_are_typed(client):
    events = list(client.responses.create(model="gpt-4o", input="resp plain", stream=True))
    assert isinstance(events[0], openai.types.responses.ResponseCreatedEvent)
    assert isinstance(events[-1], openai.types.responses.ResponseCompletedEvent)
    assert events[-1].response.output_text == PLAIN


def test_function_round_trip_with_previous_response_id(client):
    first = client.responses.create(model="gpt-4o", input="resp forecast for Oslo", tools=[FORECAST_TOOL])
    call = next(o for o in first.output if o.type == "function_call")
    assert (call.name, json.loads(call.arguments), call.call_id) == ("get_forecast", {"city": "Oslo"}, "call_forecast_1")
    assert call.id.startswith("fc_") and call.status == "completed"
    assert first.output_text == ""
    second = client.responses.create(
        model="gpt-4o",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "snow, -3"}],
        tools=[FORECAST_TOOL],
    )
    assert second.output_text == "Oslo will be snowy at -3°C."
    assert second.previous_response_id == first.id


def test_function_round_trip_with_the_full_input_replayed(client):
    history = [{"role": "user", "content": "resp forecast for Oslo"}]
    first = client.responses.create(model="gpt-4o", input=history, tools=[FORECAST_TOOL], store=False)
    call = next(o for o in first.output if o.type == "function_call")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "snow, -3"})
    second = client.responses.create(model="gpt-4o", input=history, tools=[FORECAST_TOOL], store=False)
    assert second.output_text == "Oslo will be snowy at -3°C."
    # store=False: nothing to continue from.
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4o", previous_response_id=first.id, input="resp plain")
    assert e.value.code == "previous_response_not_found"
    assert e.value.param == "previous_response_id"


def test_streamed_function_call_arguments(client):
    with client.responses.stream(model="gpt-4o", input="resp forecast", tools=[FORECAST_TOOL]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert (done.name, json.loads(done.arguments)) == ("get_forecast", {"city": "Oslo"})
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(deltas) == {"city": "Oslo"}
    assert final.output[0].type == "function_call"


def test_reasoning_item_with_summary(client):
    r = client.responses.create(model="o4-mini", input="resp reasoning", reasoning={"effort": "low", "summary": "auto"})
    kinds = [o.type for o in r.output]
    assert kinds == ["reasoning", "message"]
    assert r.output[0].summary[0].type == "summary_text"
    assert r.output[0].summary[0].text == "Weigh both options first."
    assert r.output_text == "Option B."
    assert r.usage.output_tokens_details.reasoning_tokens > 0
    assert r.reasoning.effort == "low"
    assert r.output[0].encrypted_content is None
    # Stateless clients (store=False) ask for reasoning they can send back, and do.
    r = client.responses.create(
        model="o4-mini", input="resp reasoning", store=False, include=["reasoning.encrypted_content"]
    )
    assert isinstance(r.output[0].encrypted_content, str) and r.output[0].encrypted_content
    again = client.responses.create(
        model="o4-mini",
        store=False,
        input=[{"role": "user", "content": "resp reasoning"}] + [o.model_dump(exclude_none=True) for o in r.output],
    )
    assert again.output_text == "Option B."
    with client.responses.stream(model="o4-mini", input="resp reasoning") as stream:
        events = list(stream)
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == "Weigh both options first."


def test_retrieve_and_delete(client):
    r = client.responses.create(model="gpt-4o", input="resp plain")
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == PLAIN
    client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_max_output_tokens_stop_is_incomplete(client):
    r = client.responses.create(model="gpt-4o", input="resp cut short", max_output_tokens=16)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.max_output_tokens == 16
    assert r.output_text == "Truncated answ"


def test_throttle_is_a_rate_limit_error(client):
    with pytest.raises(openai.RateLimitError) as e:
        client.responses.create(model="gpt-4o", input="resp ratelimit")
    assert e.value.status_code == 429
    assert e.value.response.headers["retry-after"] == "1"
    assert "Rate limit reached" in e.value.message


def test_mid_stream_error_raises_while_iterating(client):
    seen = []
    with pytest.raises(openai.APIError) as e:
        with client.responses.stream(model="gpt-4o", input="resp broken stream") as stream:
            for event in stream:
                seen.append(event)
    assert "The server had an error" in e.value.message
    assert "".join(x.delta for x in seen if x.type == "response.output_text.delta") == "This str"


def test_bad_input_is_a_400_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4o", input=[{"type": "function_call_output", "output": "x"}])
    assert e.value.param == "input[0].call_id"


# --- OpenAI Agents SDK --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["replayed", "streamed", "chained"])
def test_openai_agents_tool_round_trip(server, mode):
    """The agent loop: a function call, the tool run locally, its output sent back, the answer.
    `replayed` and `streamed` send the whole input each turn; `chained` sends only the new items
    with `previous_response_id` (the runner's response chaining)."""
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    calls = []

    @function_tool
    def get_forecast(city: str) -> str:
        """The forecast for a city."""
        calls.append(city)
        return f"{city}: snow, -3"

    import httpx

    bodies = []

    async def record(request):
        bodies.append(json.loads(request.content))

    client = AsyncOpenAI(
        base_url=server.url + "/v1",
        api_key="test",
        max_retries=0,
        http_client=httpx.AsyncClient(event_hooks={"request": [record]}),
    )
    model = OpenAIResponsesModel(model="gpt-4o", openai_client=client)
    agent = Agent(name="forecaster", instructions="Answer with the forecast.", tools=[get_forecast], model=model)
    prompt = "resp agent: forecast for Oslo?"

    async def run():
        if mode == "chained":
            return await Runner.run(agent, prompt, auto_previous_response_id=True)
        if mode == "replayed":
            return await Runner.run(agent, prompt)
        result = Runner.run_streamed(agent, prompt)
        async for _ in result.stream_events():
            pass
        return result

    result = asyncio.run(run())
    assert calls == ["Oslo"]
    assert result.final_output == "The agent says Oslo is snowy."
    assert result.last_response_id.startswith("resp_")
    assert len(bodies) == 2
    if mode == "chained":
        # The second turn named the first and sent only the tool output; it matched through the
        # stored conversation (the journal names the first turn's user message).
        assert bodies[1]["previous_response_id"].startswith("resp_")
        assert [i["type"] for i in bodies[1]["input"]] == ["function_call_output"]
        entries = [e for e in server.get_json("/__mockmodel/journal")["entries"] if e["operation"] == "responses"]
        assert [e["userMessage"] for e in entries] == [prompt, prompt]
        # hasToolResult held on the second turn: the answer fixture, not the tool call again.
        assert entries[0]["fixture"] != entries[1]["fixture"]


# --- openai npm package -------------------------------------------------------------------------


def test_openai_npm_responses_create_and_stream(server):
    out = run_node("responses_client.cjs", server.url)
    assert out["text"] == PLAIN and out["status"] == "completed"
    assert out["usage"]["total_tokens"] == out["usage"]["input_tokens"] + out["usage"]["output_tokens"]
    assert "".join(out["deltas"]) == PLAIN
    assert out["types"][0] == "response.created" and out["types"][-1] == "response.completed"
    assert out["sequence"] == list(range(len(out["sequence"])))
    assert out["call"]["name"] == "get_forecast" and json.loads(out["call"]["arguments"]) == {"city": "Oslo"}
    assert out["error"] == {"name": "RateLimitError", "status": 429}
