import boto3
import pytest
from strands import Agent
from strands.models import BedrockModel
from strands.models.openai import OpenAIModel

GREETING = [{"match": {"userMessage": "hello"}, "response": {"content": "Hello from the strands test."}}]


@pytest.mark.mockmodel(fixtures=GREETING)
def test_strands_bedrock_agent(mockmodel):
    model = BedrockModel(
        model_id="us.anthropic.claude-sonnet-4-20250514-v1:0",
        endpoint_url=mockmodel.bedrock_endpoint_url,
        boto_session=mockmodel.boto3_session(),
    )
    result = Agent(model=model, callback_handler=None)("hello")
    assert str(result).strip() == "Hello from the strands test."
    [entry] = mockmodel.journal()
    assert entry["operation"] == "ConverseStream" and entry["testId"] == mockmodel.test_id


@pytest.mark.mockmodel(fixtures=GREETING)
def test_unchanged_code_reaches_the_mock_through_env(mockmodel_env):
    # Clients built with no endpoint or credentials: AWS_ENDPOINT_URL_BEDROCK_RUNTIME, OPENAI_BASE_URL,
    # the static keys and AWS_EC2_METADATA_DISABLED come from mockmodel_env.
    r = boto3.client("bedrock-runtime").converse(
        modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hello"}]}]
    )
    assert r["output"]["message"]["content"][0]["text"] == "Hello from the strands test."
    agent = Agent(model=OpenAIModel(model_id="gpt-4o"), callback_handler=None)
    assert str(agent("hello")).strip() == "Hello from the strands test."
    # The README's example: strands' default BedrockModel, nothing configured in code.
    assert str(Agent(model=BedrockModel(), callback_handler=None)("hello")).strip() == "Hello from the strands test."
    assert [e["protocol"] for e in mockmodel_env.journal()] == ["bedrock", "openai", "bedrock"]
