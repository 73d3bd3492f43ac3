"""Requests the OpenAI and Anthropic APIs reject (server/data/api-request-schemas.json, from their
SDKs' types and published descriptions) are rejected here too, and the real SDKs raise their
modelled exceptions: the openai SDK's BadRequestError with `param` and `code` set, the anthropic
SDK's BadRequestError with the API's pydantic-style message. Nova InvokeModel bodies and the AWS
SDK for JavaScript's ValidationException are here as well; `--lenient` switches every check off."""
import json

import anthropic
import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import FIXTURES, Server, run_node

HELLO = "Hello! How can I help you today?"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)


@pytest.fixture
def claude(server):
    return anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)


def test_an_out_of_range_temperature_is_a_bad_request_naming_the_param(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o", messages=USER, temperature=5)
    assert e.value.status_code == 400
    assert e.value.param == "temperature"
    assert e.value.code == "decimal_above_max_value"
    assert e.value.type == "invalid_request_error"
    assert e.value.body["message"] == (
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead."
    )


@pytest.mark.parametrize(
    "extra, param, code",
    [
        ({"max_tokens": "100"}, "max_tokens", "invalid_type"),
        ({"max_tokens": 18446744073709551616}, "max_tokens", "integer_above_max_value"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"top_p": 1.5}, "top_p", "decimal_above_max_value"),
        ({"tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        ({"response_format": {"type": "yaml"}}, "response_format.type", "invalid_value"),
    ],
)
def test_the_known_bugs_now_raise_bad_request_with_param(oai, extra, param, code):
    # The SDK sends what it is given (its TypedDicts are not checked at run time), as real callers do.
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o", messages=USER, extra_body=extra)
    assert (e.value.param, e.value.code) == (param, code)


def test_a_non_text_content_is_a_400_not_a_fixture_miss(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": 5}])
    assert e.value.param == "messages[0].content"
    assert e.value.code == "invalid_type"
    assert "expected one of a string or array of objects, but got an integer instead" in e.value.body["message"]


def test_a_bad_role_names_the_message(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "robot", "content": "hello"}])
    assert e.value.param == "messages[0].role"
    assert e.value.body["message"].startswith("Invalid value: 'robot'. Supported values are: ")


def test_embeddings_and_responses_are_checked_too(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=0)
    assert (e.value.param, e.value.code) == ("dimensions", "integer_below_min_value")
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model="gpt-4o", input="hello", temperature=3)
    assert (e.value.param, e.value.code) == ("temperature", "decimal_above_max_value")
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model="gpt-4o", input="hello", max_output_tokens=10)
    assert e.value.param == "max_output_tokens"
    assert "Expected a value >= 16, but got 10 instead." in e.value.body["message"]


def test_bedrocks_openai_path_raises_the_same(server):
    client = openai.OpenAI(base_url=server.url + "/openai/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="openai.gpt-oss-20b-1:0", messages=USER, temperature=5)
    assert (e.value.param, e.value.code) == ("temperature", "decimal_above_max_value")


def test_anthropic_range_errors_are_the_apis_words(claude):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=USER, temperature=5)
    assert e.value.status_code == 400
    assert e.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "temperature: Input should be less than or equal to 1",
    }
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=USER, top_k=-1)
    assert e.value.body["error"]["message"] == "top_k: Input should be greater than or equal to 0"
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=USER, tool_choice={"type": "sometimes"}
        )
    assert e.value.body["error"]["message"] == "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"


def test_anthropic_count_tokens_and_bedrock_path_are_checked(server, claude):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "robot", "content": "x"}])
    assert e.value.body["error"]["message"] == "messages.0.role: Input should be 'user' or 'assistant'"
    bedrock = anthropic.Anthropic(base_url=server.url + "/anthropic", api_key="test", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as e:
        bedrock.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=USER, top_p=2)
    assert e.value.body["error"]["message"] == "top_p: Input should be less than or equal to 1"


def aws(url):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


NOVA = "amazon.nova-lite-v1:0"
NOVA_BODY = {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hello"}]}]}


def test_nova_invoke_bodies_are_checked_against_messages_v1(server):
    client = aws(server.url)
    ok = client.invoke_model(modelId=NOVA, body=json.dumps({**NOVA_BODY, "inferenceConfig": {"max_new_tokens": 50}}))
    assert json.loads(ok["body"].read())["output"]["message"]["content"][0]["text"] == HELLO
    for change, says in [
        ({"inferenceConfig": {"temperature": 5}}, "#/inferenceConfig/temperature: 5 is not less or equal to 1"),
        ({"inferenceConfig": {"max_new_tokens": "50"}}, "#/inferenceConfig/max_new_tokens: expected type: Integer, found: String"),
        ({"messages": [{"role": "user", "content": "hello"}]}, "#/messages/0/content: expected type: JSONArray, found: String"),
        ({"messages": None}, "#/messages: expected type: JSONArray, found: Null"),
    ]:
        with pytest.raises(ClientError) as e:
            client.invoke_model(modelId=NOVA, body=json.dumps({**NOVA_BODY, **change}))
        err = e.value.response["Error"]
        assert err["Code"] == "ValidationException"
        assert err["Message"] == f"Malformed input request: {says}, please reformat your input and try again."


def test_the_js_sdk_raises_its_modelled_validation_exception(server):
    out = run_node("validation_client.cjs", server.url)
    assert out["temperature"] == {
        "name": "ValidationException",
        "message": "1 validation error detected: Value '5.0' at 'inferenceConfig.temperature' failed to satisfy "
        "constraint: Member must have value less than or equal to 1",
        "status": 400,
        "fault": "client",
    }
    assert out["maxTokens"]["name"] == "ValidationException"
    assert "at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1" in out["maxTokens"]["message"]
    assert out["claudeType"]["name"] == "ValidationException"
    assert out["claudeType"]["message"].startswith("Malformed input request: #/max_tokens: expected type: Integer, found: String")
    assert out["novaRange"]["name"] == "ValidationException"
    assert out["novaRange"]["message"].startswith("Malformed input request: #/inferenceConfig/temperature: 5 is not less or equal to 1")


def test_lenient_mode_answers_what_the_apis_would_reject():
    s = Server("--fixtures", str(FIXTURES), "--lenient")
    try:
        oai = openai.OpenAI(base_url=s.url + "/v1", api_key="test", max_retries=0)
        r = oai.chat.completions.create(model="gpt-4o", messages=USER, temperature=5, extra_body={"n": 0})
        assert r.choices[0].message.content == HELLO
        claude = anthropic.Anthropic(base_url=s.url, api_key="test", max_retries=0)
        m = claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=USER, temperature=5)
        assert m.content[0].text == HELLO
        nova = aws(s.url).invoke_model(modelId=NOVA, body=json.dumps({**NOVA_BODY, "inferenceConfig": {"temperature": 5}}))
        assert json.loads(nova["body"].read())["output"]["message"]["content"][0]["text"] == HELLO
    finally:
        s.stop()
