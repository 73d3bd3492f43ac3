"""The agent side of tests/node: runs INSIDE a pod on the test node (`kubectl exec agent -- python agent.py ...`),
with the real client libraries from the cached venv, and prints what they parsed as one JSON line.

    agent.py converse BASE_URL TEXT          boto3 bedrock-runtime Converse
    agent.py converse-stream BASE_URL TEXT   boto3 ConverseStream; prints "started" after the first text delta
    agent.py chat BASE_URL TEXT              the OpenAI SDK's chat.completions
    agent.py tool-round-trip BASE_URL        OpenAI tool call, then the tool result sent back
    agent.py spread BASE_URL N               N Converse calls, each on a new client (a new connection)
    agent.py journal POD_URL [clear]         a pod's /__mockmodel/journal (or clears it)
    agent.py recorded BASE_URL               /__mockmodel/recorded: what a `spec.record` pod recorded
    agent.py netinfo -                       the pod's routes (/proc/net/route) and resolv.conf

BASE_URL is the Service's ClusterIP (there is no cluster DNS). Static credentials and
AWS_EC2_METADATA_DISABLED=true come from the pod's env: nothing asks for instance metadata.
"""
import json
import sys
import urllib.request

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def bedrock(base_url):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime", endpoint_url=base_url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}, read_timeout=120))


def openai_client(base_url):
    from openai import OpenAI

    return OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def main(cmd, base_url, *rest):
    out = {}
    if cmd == "converse":
        r = bedrock(base_url).converse(modelId=MODEL, messages=user(rest[0]))
        out = {"text": r["output"]["message"]["content"][0]["text"], "stopReason": r["stopReason"],
               "usage": r["usage"]}
    elif cmd == "converse-stream":
        r = bedrock(base_url).converse_stream(modelId=MODEL, messages=user(rest[0]))
        parts, events = [], []
        for event in r["stream"]:
            (kind,) = event.keys()
            events.append(kind)
            if kind == "contentBlockDelta":
                parts.append(event[kind]["delta"]["text"])
                if len(parts) == 1:
                    print("started", flush=True)
            elif kind == "messageStop":
                out["stopReason"] = event[kind]["stopReason"]
        out.update(text="".join(parts), chunks=len(parts), first=events[0], last=events[-1])
    elif cmd == "chat":
        r = openai_client(base_url).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": rest[0]}])
        out = {"text": r.choices[0].message.content, "finish_reason": r.choices[0].finish_reason}
    elif cmd == "tool-round-trip":
        client = openai_client(base_url)
        tools = [{"type": "function", "function": {
            "name": "lookup_order", "description": "Look up an order",
            "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}}}}}]
        ask = [{"role": "user", "content": "where is my order?"}]
        first = client.chat.completions.create(model="gpt-4o", tools=tools, messages=ask)
        call = first.choices[0].message.tool_calls[0]
        second = client.chat.completions.create(model="gpt-4o", tools=tools, messages=ask + [
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
        ])
        out = {"call": {"name": call.function.name, "arguments": json.loads(call.function.arguments)},
               "answer": second.choices[0].message.content}
    elif cmd == "spread":
        texts = set()
        for _ in range(int(rest[0])):
            r = bedrock(base_url).converse(modelId=MODEL, messages=user("hello"))
            texts.add(r["output"]["message"]["content"][0]["text"])
        out = {"texts": sorted(texts)}
    elif cmd == "journal":
        if rest and rest[0] == "clear":
            req = urllib.request.Request(base_url + "/__mockmodel/journal", method="DELETE")
            out = {"status": urllib.request.urlopen(req, timeout=10).status}
        else:
            with urllib.request.urlopen(base_url + "/__mockmodel/journal", timeout=10) as r:
                out = json.load(r)
    elif cmd == "recorded":
        with urllib.request.urlopen(base_url + "/__mockmodel/recorded", timeout=10) as r:
            out = json.load(r)
    elif cmd == "netinfo":
        import ipaddress
        import socket
        import struct

        def ip(hexle):
            return socket.inet_ntoa(struct.pack("<I", int(hexle, 16)))

        routes = []
        with open("/proc/net/route") as f:
            for line in list(f)[1:]:
                fields = line.split()
                net = ipaddress.ip_network(f"{ip(fields[1])}/{ip(fields[7])}")
                routes.append(str(net))
        with open("/etc/resolv.conf") as f:
            out = {"routes": sorted(routes), "resolv_conf": f.read()}
    else:
        sys.exit(__doc__)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
