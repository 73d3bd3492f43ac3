"""Bedrock Runtime's OpenAI- and Anthropic-compatible paths (`/openai/v1`, `/anthropic/v1`) with the
real SDKs pointed at them as AWS documents: the OpenAI SDK's base_url `<endpoint>/openai/v1` with a
Bedrock API key as its api_key (sent as `Authorization: Bearer`). Asserts what the SDKs parsed."""
import json

import openai
import pytest
from openai import OpenAI

BEDROCK_API_KEY = "bedrock-api-key-test"  # what AWS_BEARER_TOKEN_BEDROCK would hold


@pytest.fixture
def client(server):
    return OpenAI(base_url=server.url + "/openai/v1", api_key=BEDROCK_API_KEY, max_retries=0)


def test_openai_sdk_chat_through_bedrock_is_matched_as_bedrock(client):
    r = client.chat.completions.create(
        model="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": "which path?"}]
    )
    assert r.choices[0].message.content == "You came through Bedrock's /openai/v1 path."
    assert r.model == "openai.gpt-oss-20b-1:0"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_the_same_prompt_on_converse_gets_the_native_fixture(server):
    import boto3

    br = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )
    r = br.converse(modelId="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": [{"text": "which path?"}]}])
    assert r["output"]["message"]["content"][0]["text"] == "You came through a native Bedrock operation."


def test_openai_sdk_streams_through_bedrock(client):
    stream = client.chat.completions.create(
        model="openai.gpt-oss-120b-1:0",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help you today?"
    assert chunks[-1].usage.total_tokens > 0


def test_openai_sdk_tool_round_trip_through_bedrock(client):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "weather in Paris?"}]
    first = client.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 22C"},
    ]
    second = client.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=messages, tools=tools)
    assert second.choices[0].message.content == "It is sunny and 22°C in Paris."


def test_errors_are_the_openai_sdks_exceptions(client):
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": "throttle"}])
    assert e.value.status_code == 429
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=[])
    assert e.value.body["param"] == "messages"
    with pytest.raises(openai.NotFoundError):
        client.get("/nope", cast_to=object)
