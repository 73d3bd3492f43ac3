"""Requests the real services reject are rejected here too, checked against botocore's own service
models (server/data/botocore) and reported in AWS's words; boto3 surfaces them as the modelled
ValidationException / ValidationError. Only cases botocore lets through are sent: it checks types,
required members and minimums itself, but not maximums, enums or patterns."""
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import FIXTURES, Server


def aws(kind, url):
    return boto3.client(
        kind,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


def hello(role="user"):
    return [{"role": role, "content": [{"text": "hello"}]}]


@pytest.fixture
def bedrock(server):
    return aws("bedrock-runtime", server.url)


def test_an_out_of_range_temperature_is_aws_s_validation_exception(bedrock):
    with pytest.raises(ClientError) as e:
        bedrock.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=hello(), inferenceConfig={"temperature": 5})
    err = e.value.response["Error"]
    assert (err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 400)
    assert err["Message"] == (
        "1 validation error detected: Value '5.0' at 'inferenceConfig.temperature' failed to satisfy "
        "constraint: Member must have value less than or equal to 1"
    )


def test_several_violations_are_counted_and_joined_as_aws_joins_them(bedrock):
    with pytest.raises(ClientError) as e:
        bedrock.converse_stream(
            modelId="m.x", messages=hello("robot"), inferenceConfig={"temperature": 1.5, "topP": 2}
        )
    message = e.value.response["Error"]["Message"]
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert message.startswith("3 validation errors detected: "), message
    assert "Value '1.5' at 'inferenceConfig.temperature'" in message
    assert "Value '2.0' at 'inferenceConfig.topP' failed to satisfy constraint: Member must have value less than or equal to 1" in message
    assert "Value 'robot' at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant, system]" in message
    assert message.count("; ") == 2


def test_a_header_member_outside_its_enum_is_rejected(bedrock):
    with pytest.raises(ClientError) as e:
        bedrock.invoke_model(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            body=b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hello"}]}',
            trace="LOUD",
        )
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Value 'LOUD' at 'trace' failed to satisfy constraint: Member must satisfy enum value set" in e.value.response["Error"]["Message"]


def test_a_sagemaker_endpoint_name_outside_its_pattern_is_a_validation_error(server):
    sm = aws("sagemaker-runtime", server.url)
    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="my_llm", ContentType="application/json", Body=b'{"inputs":"hello"}')
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == (
        "1 validation error detected: Value 'my_llm' at 'endpointName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
    )


def test_lenient_mode_answers_what_the_service_would_reject():
    s = Server("--fixtures", str(FIXTURES), "--lenient")
    try:
        r = aws("bedrock-runtime", s.url).converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=hello(), inferenceConfig={"temperature": 5}
        )
        assert r["output"]["message"]["content"][0]["text"] == "Hello! How can I help you today?"
    finally:
        s.stop()


@pytest.mark.parametrize(
    "change, says",
    [
        ({"max_tokens": "100"}, "#/max_tokens: expected type: Integer, found: String"),
        ({"max_tokens": 18446744073709551616}, "#/max_tokens: expected type: Integer"),
        ({"temperature": 5}, "#/temperature: 5 is not less or equal to 1"),
    ],
)
def test_invoke_model_bodies_are_checked_against_their_family_schema(bedrock, change, says):
    import json

    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]}
    body.update(change)
    with pytest.raises(ClientError) as e:
        bedrock.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps(body))
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith(f"Malformed input request: {says}"), err["Message"]
    assert err["Message"].endswith(", please reformat your input and try again.")
