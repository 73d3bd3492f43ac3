import pytest

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
WEATHER = [
    {"match": {"userMessage": "weather", "hasToolResult": True}, "response": {"content": "It is sunny in Paris."}},
    {"match": {"userMessage": "weather"}, "response": {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
]
TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}


def user(text):
    return {"role": "user", "content": [{"text": text}]}


@pytest.mark.mockmodel(fixtures=WEATHER)
def test_boto3_converse_tool_round_trip(mockmodel):
    client = mockmodel.boto3_client("bedrock-runtime")
    messages = [user("What is the weather in Paris?")]
    r = client.converse(modelId=MODEL, messages=messages, toolConfig=TOOLS)
    assert r["stopReason"] == "tool_use"
    [block] = r["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_weather" and block["toolUse"]["input"] == {"city": "Paris"}
    messages += [
        r["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": block["toolUse"]["toolUseId"], "content": [{"text": "22C"}]}}]},
    ]
    r = client.converse(modelId=MODEL, messages=messages, toolConfig=TOOLS)
    assert r["output"]["message"]["content"][0]["text"] == "It is sunny in Paris."
    assert [e["operation"] for e in mockmodel.journal()] == ["Converse", "Converse"]


@pytest.mark.parametrize("n", range(6))
def test_sequence_index_is_per_test_on_the_shared_server(mockmodel, n):
    # Six tests, spread over the xdist workers, share each worker's session server; X-Test-Id (added
    # by boto3_client's event handler) gives each its own sequenceIndex counters.
    client = mockmodel.boto3_client("bedrock-runtime")
    texts = [client.converse(modelId=MODEL, messages=[user("count")])["output"]["message"]["content"][0]["text"] for _ in range(2)]
    assert texts == ["first", "second"]
    assert [e["userMessage"] for e in mockmodel.journal()] == ["count", "count"]


@pytest.mark.mockmodel(fixtures=[{"match": {"userMessage": "stream please"}, "response": {"content": "Streamed from the mock."}}])
def test_boto3_converse_stream(mockmodel):
    client = mockmodel.boto3_client("bedrock-runtime")
    events = list(client.converse_stream(modelId=MODEL, messages=[user("stream please")])["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Streamed from the mock."
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0
