"""Driven by tests/tests/operator_e2e.rs (not collected by pytest): the OpenAI Python SDK and boto3 against a
mockmodel-server started exactly as the operator's Deployment says.

usage: operator_e2e_client.py BASE_URL FIXTURES_DIR NEW_FIXTURES_FILE
Prints one JSON object with what the SDK parsed. With a NEW_FIXTURES_FILE it also updates the
mounted fixtures the way the kubelet does (new timestamped dir, atomic `..data` symlink swap)
while a slow stream is in flight, and reports that stream's text and the answer after the reload."""
import json
import os
import shutil
import sys
import time

import openai
from openai import OpenAI

base_url, fixtures_dir, new_file = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)
out = {}


def ask(text, **kw):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **kw)


out["greeting"] = ask("hello").choices[0].message.content

# The same endpoint as Bedrock Runtime, the way a staging agent on boto3 reaches it.
import boto3
from botocore.config import Config

bedrock = boto3.client(
    "bedrock-runtime", endpoint_url=base_url, region_name="us-east-1", aws_access_key_id="test",
    aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}))
reply = bedrock.converse(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0",
                         messages=[{"role": "user", "content": [{"text": "hello"}]}])
out["bedrock_greeting"] = reply["output"]["message"]["content"][0]["text"]

tools = [{"type": "function", "function": {
    "name": "lookup_order", "description": "Look up an order",
    "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}}}}}]
first = client.chat.completions.create(
    model="gpt-4o", tools=tools, messages=[{"role": "user", "content": "where is my order?"}])
call = first.choices[0].message.tool_calls[0]
out["tool_call"] = {"name": call.function.name, "arguments": json.loads(call.function.arguments)}
second = client.chat.completions.create(model="gpt-4o", tools=tools, messages=[
    {"role": "user", "content": "where is my order?"},
    {"role": "assistant", "tool_calls": [call.model_dump()]},
    {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
])
out["tool_answer"] = second.choices[0].message.content

try:
    ask("throttle me")
    out["throttle"] = None
except openai.RateLimitError as e:
    out["throttle"] = {"status": e.status_code, "retry_after": e.response.headers.get("retry-after")}


def kubelet_update(directory, source):
    """The kubelet's AtomicWriter: write a new timestamped dir, then rename a symlink over `..data`."""
    stamp = "..%s" % time.strftime("%Y_%m_%d_%H_%M_%S.") + str(time.time_ns() % 10**9)
    new_dir = os.path.join(directory, stamp)
    os.mkdir(new_dir)
    shutil.copy(source, os.path.join(new_dir, "fixtures.json"))
    old = os.readlink(os.path.join(directory, "..data"))
    tmp = os.path.join(directory, "..data_tmp")
    os.symlink(stamp, tmp)
    os.rename(tmp, os.path.join(directory, "..data"))
    shutil.rmtree(os.path.join(directory, old))


if new_file:
    stream = ask("tell me a long story", stream=True)
    parts = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
            if len(parts) == 1:
                kubelet_update(fixtures_dir, new_file)
    out["in_flight_stream"] = "".join(parts)
    deadline = time.time() + 15
    while time.time() < deadline:
        out["greeting_after_reload"] = ask("hello").choices[0].message.content
        if out["greeting_after_reload"] != out["greeting"]:
            break
        time.sleep(0.2)

print(json.dumps(out))
