"""aimock's own published fixture files (npm @copilotkit/aimock 1.43.0) load unchanged and answer
over OpenAI and Bedrock: the promise to users switching from aimock."""
import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from openai import OpenAI

from conftest import Server, server_binary

AIMOCK = "@copilotkit/aimock@1.43.0"


@pytest.fixture(scope="module")
def aimock_fixtures():
    cache = Path(os.environ.get("MOCKMODEL_CACHE", Path.home() / ".cache" / "mockmodel")) / "aimock-1.43.0"
    if not (cache / ".complete").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", AIMOCK], cwd=cache, check=True, capture_output=True)
        tgz = next(cache.glob("*.tgz"))
        subprocess.run(["tar", "xzf", tgz.name], cwd=cache, check=True)
        (cache / ".complete").touch()
    return cache / "package" / "fixtures"


def is_fixture_file(path):
    try:
        return isinstance(json.loads(path.read_text()).get("fixtures"), list)
    except (ValueError, AttributeError):
        return False


def test_every_published_fixture_file_validates(aimock_fixtures):
    files = sorted(p for p in aimock_fixtures.rglob("*.json") if is_fixture_file(p))
    assert len(files) >= 15
    for f in files:
        r = subprocess.run([server_binary(), "validate", str(f)], capture_output=True, text=True)
        assert r.returncode == 0, f"{f}: {r.stderr}"


def test_aimock_config_files_get_a_clear_error(aimock_fixtures):
    r = subprocess.run(
        [server_binary(), "validate", str(aimock_fixtures / "examples" / "chaos" / "chaos-config.json")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "aimock config file" in r.stderr


def test_published_examples_answer_over_openai_and_bedrock(aimock_fixtures):
    s = Server(
        "--fixtures", str(aimock_fixtures / "example-greeting.json"),
        "--fixtures", str(aimock_fixtures / "example-tool-call.json"),
        "--fixtures", str(aimock_fixtures / "examples" / "llm" / "sequential-responses.json"),
    )
    try:
        openai = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
        r = openai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
        assert r.choices[0].message.content == "Hello! How can I help you today?"
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        r = openai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=tools
        )
        call = r.choices[0].message.tool_calls[0]
        assert json.loads(call.function.arguments) == {"location": "San Francisco", "unit": "fahrenheit"}

        bedrock = boto3.client(
            "bedrock-runtime",
            endpoint_url=s.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}),
        )
        out = bedrock.converse(
            modelId="anthropic.claude-3-5-sonnet-20240620-v1:0",
            messages=[{"role": "user", "content": [{"text": "goodbye"}]}],
        )
        assert out["output"]["message"]["content"][0]["text"] == "Goodbye! Have a great day!"
        jokes = [
            bedrock.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "tell me a joke"}]}])[
                "output"
            ]["message"]["content"][0]["text"]
            for _ in range(3)
        ]
        assert jokes[0].startswith("Why did the programmer") and jokes[2].startswith("A SQL query")
    finally:
        s.stop()
