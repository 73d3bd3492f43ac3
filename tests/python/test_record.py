"""--record and --proxy-unmatched: a second mockmodel-server is the real upstream. The openai and
anthropic SDKs and boto3 (Converse, ConverseStream, a tool round trip) talk to a recording server with no matching
fixtures; the upstream is then stopped and a fresh server loading only the recorded directory answers
the same calls with the same parsed results. Timing is asserted on the recorded files' numbers
against the upstream fixtures' declared profiles, never on the test's own clock."""
import json
import os
import subprocess
import urllib.error

import anthropic
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from openai import OpenAI

from conftest import Server, server_binary

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# The recorder signs with these (the standard chain's environment provider); the clients sign with
# their own. Nothing may reach the instance metadata service.
RECORDER_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDRECORDER",
    "AWS_SECRET_ACCESS_KEY": "recorder-secret-key",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
CLIENT_SECRET = "client-secret-key"

UPSTREAM_FIXTURES = {
    "fixtures": [
        {
            "match": {"userMessage": "capital of France"},
            "response": {"content": "The capital of France is Paris, on the Seine."},
            # Long enough that a loaded machine's scheduling delays stay well inside 20%.
            "streamingProfile": {"ttft": 1000, "tps": 10},
            "chunkSize": 6,
        },
        {
            "match": {"userMessage": "weather", "hasToolResult": True},
            "response": {"content": "It is sunny in Paris."},
        },
        {
            "match": {"userMessage": "weather"},
            "response": {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
            "streamingProfile": {"ttft": 600, "tps": 10},
        },
    ]
}
WEATHER_TOOL = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather of a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def bedrock(url):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDCLIENT",
        aws_secret_access_key=CLIENT_SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )


def openai(url):
    return OpenAI(base_url=url + "/v1", api_key="sk-client-key", max_retries=0)


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def calls(url):
    """Every call the test records and replays, reduced to what the clients parsed."""
    out = {}
    oa = openai(url)
    r = oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "capital of France?"}])
    out["openai"] = (r.choices[0].message.content, r.usage.prompt_tokens, r.usage.completion_tokens)
    text, usage = "", None
    for chunk in oa.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Stream it: capital of France?"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    out["openai_stream"] = (text, usage)
    r = oa.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "weather in Paris?"}], tools=OPENAI_TOOLS
    )
    call = r.choices[0].message.tool_calls[0]
    out["openai_tool"] = (call.id, call.function.name, json.loads(call.function.arguments))

    an = anthropic.Anthropic(base_url=url, api_key="sk-ant-client-key", max_retries=0)
    m = an.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "Anthropic: capital of France?"}]
    )
    out["anthropic"] = ([b.model_dump() for b in m.content], m.stop_reason, m.usage.input_tokens, m.usage.output_tokens)
    with an.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "Anthropic stream: capital of France?"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    out["anthropic_stream"] = (text, final.usage.input_tokens, final.usage.output_tokens)

    br = bedrock(url)
    r = br.converse(modelId=MODEL, messages=user("Converse: capital of France?"))
    out["converse"] = (r["output"]["message"], r["stopReason"], r["usage"]["inputTokens"], r["usage"]["outputTokens"])
    text, usage = "", None
    for ev in br.converse_stream(modelId=MODEL, messages=user("ConverseStream: capital of France?"))["stream"]:
        text += ev.get("contentBlockDelta", {}).get("delta", {}).get("text", "")
        if "metadata" in ev:
            usage = ev["metadata"]["usage"]
    out["converse_stream"] = (text, usage)

    # A tool round trip: the tool call streamed, then the answer after the tool's result.
    msgs = user("What's the weather in Paris?")
    tool, args = {}, ""
    for ev in br.converse_stream(modelId=MODEL, messages=msgs, toolConfig=WEATHER_TOOL)["stream"]:
        if "contentBlockStart" in ev:
            tool = ev["contentBlockStart"]["start"]["toolUse"]
        args += ev.get("contentBlockDelta", {}).get("delta", {}).get("toolUse", {}).get("input", "")
    out["converse_stream_tool"] = (tool, json.loads(args))
    msgs.append({"role": "assistant", "content": [{"toolUse": {**tool, "input": json.loads(args)}}]})
    msgs.append(
        {"role": "user", "content": [{"toolResult": {"toolUseId": tool["toolUseId"], "content": [{"text": "sunny"}]}}]}
    )
    r = br.converse(modelId=MODEL, messages=msgs, toolConfig=WEATHER_TOOL)
    out["converse_tool_result"] = (r["output"]["message"]["content"], r["stopReason"])
    out["strands"] = strands_round_trip(url)
    out.update(sagemaker_calls(url))
    return out


def sagemaker_calls(url):
    """InvokeEndpoint (OpenAI chat body) and the response stream in both container formats."""
    sm = boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDCLIENT",
        aws_secret_access_key=CLIENT_SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )
    chat = {"messages": [{"role": "user", "content": "SageMaker: capital of France?"}], "max_tokens": 64}
    r = sm.invoke_endpoint(EndpointName="llm", ContentType="application/json", Body=json.dumps(chat))
    body = json.loads(r["Body"].read())
    out = {"sagemaker": (body["choices"][0]["message"]["content"], body["usage"]["completion_tokens"])}
    chat["messages"][0]["content"] = "SageMaker stream: capital of France?"
    chat["stream"] = True
    r = sm.invoke_endpoint_with_response_stream(EndpointName="llm", ContentType="application/json", Body=json.dumps(chat))
    text = ""
    for ev in r["Body"]:
        data = ev["PayloadPart"]["Bytes"].decode().removeprefix("data:").strip()
        if data != "[DONE]":
            delta = (json.loads(data).get("choices") or [{}])[0].get("delta", {})
            text += delta.get("content") or ""
    out["sagemaker_stream"] = text
    tgi = {"inputs": "TGI stream: capital of France?", "parameters": {"max_new_tokens": 64}}
    r = sm.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=json.dumps(tgi))
    tokens = []
    for ev in r["Body"]:
        token = json.loads(ev["PayloadPart"]["Bytes"].decode().removeprefix("data:"))["token"]
        if not token["special"]:
            tokens.append(token["text"])
    out["sagemaker_tgi_stream"] = "".join(tokens)
    return out


def strands_round_trip(url):
    """A strands agent's tool round trip over ConverseStream: what the agent called and answered."""
    from strands import Agent, tool
    from strands.models import BedrockModel

    seen = []

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        seen.append(city)
        return f"clear skies over {city}"

    model = BedrockModel(
        model_id=MODEL,
        endpoint_url=url,
        boto_session=boto3.Session(
            region_name="us-east-1", aws_access_key_id="AKIDCLIENT", aws_secret_access_key=CLIENT_SECRET
        ),
        boto_client_config=Config(retries={"total_max_attempts": 1}),
        streaming=True,
    )
    result = Agent(model=model, tools=[get_weather], callback_handler=None)("Strands: the weather in Lyon?")
    return seen, str(result).strip(), result.stop_reason


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Records `calls` through a recorder in front of an upstream; returns (parsed results, record dir)."""
    base = tmp_path_factory.mktemp("record")
    (base / "upstream.json").write_text(json.dumps(UPSTREAM_FIXTURES))
    # The recorder's own fixtures answer none of the calls: every one is forwarded.
    (base / "own.yaml").write_text("fixtures: [{match: {userMessage: never-asked}, response: {content: no}}]\n")
    rec_dir = base / "recorded"
    upstream = Server("--fixtures", str(base / "upstream.json"), "--token-count", "estimate")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in RECORDER_ENV.items():
            mp.setenv(k, v)
        recorder = Server(
            "--fixtures", str(base / "own.yaml"), "--token-count", "estimate",
            "--record", upstream.url, "--record-dir", str(rec_dir),
        )  # fmt: skip
    try:
        through_recorder = calls(recorder.url)
        direct = calls(upstream.url)
    finally:
        recorder.stop()
        upstream.stop()
    return through_recorder, direct, rec_dir


def test_answers_are_relayed_unchanged(recorded):
    through_recorder, direct, _ = recorded
    # Tool call ids are the upstream's own, generated per answer; everything else is identical.
    for key in ("openai", "openai_stream", "anthropic", "anthropic_stream", "converse", "converse_stream", "converse_tool_result", "strands", "sagemaker", "sagemaker_stream", "sagemaker_tgi_stream"):
        assert through_recorder[key] == direct[key], key
    assert through_recorder["converse_stream_tool"][1] == {"city": "Paris"}
    assert through_recorder["converse_stream_tool"][0]["name"] == "get_weather"
    assert through_recorder["openai_tool"][1:] == ("get_weather", {"city": "Paris"})


def test_recorded_files_validate_and_hold_no_secrets(recorded):
    _, _, rec_dir = recorded
    files = sorted(rec_dir.iterdir())
    assert len(files) == 14, [f.name for f in files]
    r = subprocess.run([server_binary(), "validate", str(rec_dir)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "OK: 14 fixture(s) in 14 file(s)" in r.stdout
    for f in files:
        text = f.read_text()
        for secret in (CLIENT_SECRET, "sk-client-key", "sk-ant-client-key", "recorder-secret-key", "AKID", "Signature", "Authorization"):
            assert secret not in text, (f.name, secret)
    names = [f.name for f in files]
    # ConverseStream: text, a tool call, and strands' tool call and answer after the tool ran.
    assert sum(n.startswith("bedrock-ConverseStream-") for n in names) == 4
    assert sum(n.startswith("openai-chat-completions-") for n in names) == 3
    assert sum(n.startswith("anthropic-messages-") for n in names) == 2
    assert sum(n.startswith("sagemaker-InvokeEndpointWithResponseStream-") for n in names) == 2


def test_recorded_timing_is_within_20_percent_of_the_upstreams(recorded):
    _, _, rec_dir = recorded
    docs = [json.loads(f.read_text())["fixtures"][0] for f in rec_dir.iterdir()]
    profiles = {
        (d["match"]["userMessage"]["regex"], d["match"]["hasToolResult"]): d["streamingProfile"]
        for d in docs
        if "streamingProfile" in d
    }
    text = [p for (r, _), p in profiles.items() if "capital" in r]
    tool = [p for (r, after), p in profiles.items() if "weather" in r and not after]
    assert len(text) == 5 and len(tool) == 2, profiles
    for p in text:
        assert 800 <= p["ttft"] <= 1200, p
        assert 8 <= p["tps"] <= 12, p
    # The tool call's arguments stream as one delta: a first frame, so no rate.
    for p in tool:
        assert 480 <= p["ttft"] <= 720, p


def test_a_fresh_server_replays_the_recording_with_the_upstream_stopped(recorded):
    through_recorder, _, rec_dir = recorded
    replay = Server("--fixtures", str(rec_dir), "--token-count", "estimate")
    try:
        assert calls(replay.url) == through_recorder
    finally:
        replay.stop()


def test_proxy_unmatched_relays_without_recording(tmp_path):
    (tmp_path / "upstream.json").write_text(json.dumps(UPSTREAM_FIXTURES))
    (tmp_path / "own.yaml").write_text("fixtures: [{match: {userMessage: hello}, response: {content: Hello!}}]\n")
    upstream = Server("--fixtures", str(tmp_path / "upstream.json"), "--token-count", "estimate")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in RECORDER_ENV.items():
            mp.setenv(k, v)
        proxy = Server(
            "--fixtures", str(tmp_path / "own.yaml"), "--token-count", "estimate",
            "--proxy-unmatched", f"bedrock={upstream.url}",
        )  # fmt: skip
    try:
        br = bedrock(proxy.url)
        # The proxy's own fixture answers "hello"; "capital" goes upstream.
        assert br.converse(modelId=MODEL, messages=user("hello"))["output"]["message"]["content"] == [{"text": "Hello!"}]
        r = br.converse(modelId=MODEL, messages=user("capital of France?"))
        assert r["output"]["message"]["content"] == [{"text": "The capital of France is Paris, on the Seine."}]
        # OpenAI has no upstream here: the usual no-match error.
        with pytest.raises(Exception) as e:
            openai(proxy.url).chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "capital of France?"}]
            )
        assert type(e.value).__name__ == "NotFoundError"
        # The forwarded request is journalled as such; a relay-only server has no recorded set.
        journal = proxy.get_json("/__mockmodel/journal")["entries"]
        assert [(e["userMessage"], e["outcome"], e.get("upstream"), e.get("recorded")) for e in journal] == [
            ("hello", "message", None, None),
            ("capital of France?", "forwarded 200", upstream.url, None),
            ("capital of France?", "no_match", None, None),
        ]
        with pytest.raises(urllib.error.HTTPError) as e:
            proxy.get_json("/__mockmodel/recorded")
        assert e.value.code == 404
    finally:
        proxy.stop()
        upstream.stop()
    assert len(list(tmp_path.iterdir())) == 2  # nothing recorded
    with pytest.MonkeyPatch.context() as mp:
        for k, v in RECORDER_ENV.items():
            mp.setenv(k, v)
        upstream_down = Server(
            "--fixtures", str(tmp_path / "own.yaml"), "--token-count", "estimate", "--proxy-unmatched", "http://127.0.0.1:9"
        )  # fmt: skip
    try:
        # An upstream that cannot be reached is a 502 in each wire's own error shape, naming it.
        with pytest.raises(Exception) as e:
            openai(upstream_down.url).chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "capital of France?"}]
            )
        assert getattr(e.value, "status_code", None) == 502
        assert "the upstream http://127.0.0.1:9 did not answer" in e.value.message
        with pytest.raises(ClientError) as e:
            bedrock(upstream_down.url).converse(modelId=MODEL, messages=user("capital of France?"))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert e.value.response["Error"]["Code"] == "InternalServerException"
    finally:
        upstream_down.stop()


def test_no_aws_credentials_is_a_502_naming_them_without_the_metadata_service(tmp_path):
    (tmp_path / "own.yaml").write_text("fixtures: [{match: {userMessage: hello}, response: {content: Hello!}}]\n")
    with pytest.MonkeyPatch.context() as mp:
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            mp.delenv(k, raising=False)
        # No profile files either, and the instance metadata service is off: the chain has nothing.
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        mp.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        proxy = Server("--fixtures", str(tmp_path / "own.yaml"), "--proxy-unmatched", "http://127.0.0.1:9")
    try:
        with pytest.raises(ClientError) as e:
            bedrock(proxy.url).converse(modelId=MODEL, messages=user("capital of France?"))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert "no AWS credentials to sign the forwarded request" in e.value.response["Error"]["Message"]
    finally:
        proxy.stop()


def test_the_upstream_verifies_the_recorders_sigv4_re_signing(tmp_path):
    """The upstream runs with --auth and knows only the recorder's key: a request the client signed
    with its own key is answered only because the recorder re-signed it correctly (the upstream
    checks canonical request, signed headers and payload hash as AWS does). With a wrong recorder
    secret, the upstream's own InvalidSignatureException is relayed to the client unchanged."""
    (tmp_path / "upstream.json").write_text(json.dumps(UPSTREAM_FIXTURES))
    (tmp_path / "auth.json").write_text(json.dumps(
        {"aws": [{"accessKeyId": RECORDER_ENV["AWS_ACCESS_KEY_ID"], "secretAccessKey": RECORDER_ENV["AWS_SECRET_ACCESS_KEY"]}]}
    ))
    (tmp_path / "own.yaml").write_text("fixtures: [{match: {userMessage: hello}, response: {content: Hello!}}]\n")
    upstream = Server("--fixtures", str(tmp_path / "upstream.json"), "--auth", str(tmp_path / "auth.json"))
    proxies = []
    try:
        for secret in (RECORDER_ENV["AWS_SECRET_ACCESS_KEY"], "not-the-recorder-secret"):
            with pytest.MonkeyPatch.context() as mp:
                for k, v in {**RECORDER_ENV, "AWS_SECRET_ACCESS_KEY": secret}.items():
                    mp.setenv(k, v)
                proxies.append(Server("--fixtures", str(tmp_path / "own.yaml"), "--proxy-unmatched", f"bedrock={upstream.url}"))
        good, bad = (bedrock(p.url) for p in proxies)
        # The client's own key is unknown upstream: straight to it, the call is refused.
        with pytest.raises(ClientError) as e:
            bedrock(upstream.url).converse(modelId=MODEL, messages=user("capital of France?"))
        assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
        r = good.converse(modelId=MODEL, messages=user("capital of France?"))
        assert r["output"]["message"]["content"] == [{"text": "The capital of France is Paris, on the Seine."}]
        text = "".join(
            ev.get("contentBlockDelta", {}).get("delta", {}).get("text", "")
            for ev in good.converse_stream(modelId=MODEL, messages=user("capital of France?"))["stream"]
        )
        assert text == "The capital of France is Paris, on the Seine."
        with pytest.raises(ClientError) as e:
            bad.converse(modelId=MODEL, messages=user("capital of France?"))
        assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    finally:
        for p in proxies:
            p.stop()
        upstream.stop()


# InvokeModel (each model family's own body), the Responses API and upstream errors, recorded and
# replayed; the recorder's journal names the upstream and the file of every forwarded request.
NOVA = "amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-8b-instruct-v1:0"
LLAMA_PROMPT = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
MORE_UPSTREAM_FIXTURES = {
    "fixtures": [
        {"match": {"userMessage": "throttle"}, "response": {"error": {"type": "ThrottlingException", "message": "Too many requests, please wait before trying again."}}},
        {"match": {"userMessage": "rate limit"}, "response": {"error": {"type": "rate_limit_error", "message": "Slow down", "code": "rate_limit_exceeded"}, "status": 429}},
        {"match": {"userMessage": "overload"}, "response": {"error": {"type": "overloaded_error", "message": "Overloaded"}, "status": 529}},
        *UPSTREAM_FIXTURES["fixtures"],
        {
            "match": {"userMessage": "Paris"},
            "response": {"content": "Paris is the capital of France.", "usage": {"inputTokens": 11, "outputTokens": 7}},
            "streamingProfile": {"ttft": 600, "tps": 10},
            "chunkSize": 6,
        },
    ]
}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def more_calls(url):
    """InvokeModel (Claude, Nova, Titan, Llama), its stream (Claude, Nova, Llama), Responses API unary
    and stream (text and a tool call), reduced to what the clients parsed; and three upstream errors
    as the exceptions the SDKs raised."""
    out = {}
    br = bedrock(url)

    def invoke(model, body):
        r = br.invoke_model(modelId=model, body=json.dumps(body))
        h = r["ResponseMetadata"]["HTTPHeaders"]
        return json.loads(r["body"].read()), (int(h["x-amzn-bedrock-input-token-count"]), int(h["x-amzn-bedrock-output-token-count"]))

    def stream(model, body):
        r = br.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
        return [json.loads(e["chunk"]["bytes"]) for e in r["body"]]

    claude = lambda text: {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": text}]}  # noqa: E731
    nova = lambda text: {"messages": [{"role": "user", "content": [{"text": text}]}], "inferenceConfig": {"max_new_tokens": 100}}  # noqa: E731
    body, usage = invoke(MODEL, claude("Claude: Paris?"))
    out["invoke_claude"] = (body["content"], body["stop_reason"], body["usage"], usage)
    body, usage = invoke(NOVA, nova("Nova: Paris?"))
    out["invoke_nova"] = (body["output"]["message"]["content"], body["usage"]["inputTokens"], body["usage"]["outputTokens"], usage)
    body, usage = invoke(TITAN, {"inputText": "Titan: Paris?"})
    out["invoke_titan"] = (body["results"][0]["outputText"], body["results"][0]["tokenCount"], usage)
    body, usage = invoke(LLAMA, {"prompt": LLAMA_PROMPT.format("Llama: Paris?")})
    out["invoke_llama"] = (body["generation"], body["generation_token_count"], usage)

    events = stream(MODEL, claude("Claude stream: Paris?"))
    out["invoke_stream_claude"] = (
        "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta"),
        events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
    )
    events = stream(NOVA, nova("Nova stream: Paris?"))
    out["invoke_stream_nova"] = (
        "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e),
        next(e["metadata"]["usage"] for e in events if "metadata" in e),
    )
    events = stream(LLAMA, {"prompt": LLAMA_PROMPT.format("Llama stream: Paris?")})
    out["invoke_stream_llama"] = "".join(e["generation"] for e in events)

    oa = openai(url)
    r = oa.responses.create(model="gpt-4o", input="Responses: Paris?")
    out["responses"] = (r.output_text, r.status, r.usage.input_tokens, r.usage.output_tokens)
    text, final = "", None
    for ev in oa.responses.create(model="gpt-4o", input="Responses stream: Paris?", stream=True):
        if ev.type == "response.output_text.delta":
            text += ev.delta
        if ev.type == "response.completed":
            final = ev.response
    out["responses_stream"] = (text, final.output_text, final.usage.output_tokens)
    args, final = "", None
    for ev in oa.responses.create(model="gpt-4o", input="Responses: weather in Paris?", tools=[RESPONSES_TOOL], stream=True):
        if ev.type == "response.function_call_arguments.delta":
            args += ev.delta
        if ev.type == "response.completed":
            final = ev.response
    call = final.output[0]
    out["responses_stream_tool"] = (call.type, call.name, call.call_id, json.loads(call.arguments), json.loads(args))

    with pytest.raises(ClientError) as e:
        br.converse(modelId=MODEL, messages=user("throttle me"))
    out["bedrock_error"] = (e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"])
    with pytest.raises(Exception) as e:
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "rate limit me"}])
    out["openai_error"] = (type(e.value).__name__, e.value.status_code, e.value.body)
    an = anthropic.Anthropic(base_url=url, api_key="sk-ant-client-key", max_retries=0)
    with pytest.raises(Exception) as e:
        an.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "overload"}])
    # The request id is the answering server's own, fresh per answer.
    body = {k: v for k, v in e.value.body.items() if k != "request_id"}
    out["anthropic_error"] = (type(e.value).__name__, e.value.status_code, body)
    return out


def wait_for(check, what):
    """Polls `check` until it holds (a recording is written once its body has ended, just after the
    client has read it); fails naming `what` after a generous bound."""
    import time

    for _ in range(100):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(what)


@pytest.fixture(scope="module")
def recorded_more(tmp_path_factory):
    """Records `more_calls` through a recorder; returns (parsed results, direct results, record dir,
    the recorder's journal, its /__mockmodel/recorded document)."""
    base = tmp_path_factory.mktemp("record-more")
    (base / "upstream.json").write_text(json.dumps(MORE_UPSTREAM_FIXTURES))
    (base / "own.yaml").write_text("fixtures: [{match: {userMessage: never-asked}, response: {content: no}}]\n")
    rec_dir = base / "recorded"
    upstream = Server("--fixtures", str(base / "upstream.json"), "--token-count", "estimate")
    recorder = Server(
        "--fixtures", str(base / "own.yaml"), "--token-count", "estimate",
        "--record", upstream.url, "--record-dir", str(rec_dir), env=RECORDER_ENV,
    )  # fmt: skip
    try:
        through_recorder = more_calls(recorder.url)
        direct = more_calls(upstream.url)
        entries = lambda: recorder.get_json("/__mockmodel/journal")["entries"]  # noqa: E731
        wait_for(lambda: all(e.get("recorded") for e in entries()), "every forwarded request names its recording")
        journal = entries()
        recorded_doc = recorder.get_json("/__mockmodel/recorded")
    finally:
        recorder.stop()
        upstream.stop()
    return through_recorder, direct, rec_dir, journal, recorded_doc


def test_invoke_model_responses_and_errors_are_relayed_unchanged(recorded_more):
    through_recorder, direct, *_ = recorded_more
    for key, value in direct.items():
        if key in ("responses_stream_tool",):
            continue
        assert through_recorder[key] == value, key
    assert through_recorder["invoke_claude"][0] == [{"type": "text", "text": "Paris is the capital of France."}]
    assert through_recorder["invoke_titan"][:2] == ("Paris is the capital of France.", 7)
    assert through_recorder["invoke_stream_llama"] == "Paris is the capital of France."
    assert through_recorder["responses"][:2] == ("Paris is the capital of France.", "completed")
    kind, name, _, args, streamed = through_recorder["responses_stream_tool"]
    assert (kind, name, args, streamed) == ("function_call", "get_weather", {"city": "Paris"}, {"city": "Paris"})
    assert through_recorder["bedrock_error"][0]["Code"] == "ThrottlingException"
    assert through_recorder["openai_error"][:2] == ("RateLimitError", 429)
    assert through_recorder["anthropic_error"][:2] == ("OverloadedError", 529)


def test_invoke_model_responses_and_error_recordings_validate(recorded_more):
    _, _, rec_dir, _, _ = recorded_more
    names = sorted(f.name for f in rec_dir.iterdir())
    assert sum(n.startswith("bedrock-InvokeModel-") for n in names) == 4, names
    assert sum(n.startswith("bedrock-InvokeModelWithResponseStream-") for n in names) == 3, names
    assert sum(n.startswith("openai-responses-") for n in names) == 3, names
    assert len(names) == 13, names
    r = subprocess.run([server_binary(), "validate", str(rec_dir)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "OK: 13 fixture(s) in 13 file(s)" in r.stdout
    docs = {n: json.loads((rec_dir / n).read_text())["fixtures"][0] for n in names}
    errors = {d["match"]["operation"]: d["response"]["error"] for d in docs.values() if "error" in d["response"]}
    assert errors == {
        "Converse": {"message": "Too many requests, please wait before trying again.", "type": "ThrottlingException", "status": 429},
        "chat.completions": {"message": "Slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded", "status": 429},
        "messages": {"message": "Overloaded", "type": "overloaded_error", "status": 529},
    }
    # The streams' timing: the upstream declared ttft 600 ms and 10 chunks a second.
    profiles = [d["streamingProfile"] for d in docs.values() if "streamingProfile" in d and "stream: Paris" in d["match"]["userMessage"]["regex"]]
    assert len(profiles) == 4, profiles  # three InvokeModel streams and a Responses stream
    for p in profiles:
        assert 480 <= p["ttft"] <= 720, p
        assert 8 <= p["tps"] <= 12, p
    for text in (json.dumps(d) for d in docs.values()):
        for secret in (CLIENT_SECRET, "sk-client-key", "sk-ant-client-key", "AKID", "Signature"):
            assert secret not in text


def test_the_journal_names_the_upstream_and_the_recording_of_each_forwarded_request(recorded_more):
    _, _, rec_dir, journal, recorded_doc = recorded_more
    assert len(journal) == 13
    files = {f.name for f in rec_dir.iterdir()}
    for e in journal:
        assert e["fixture"] is None
        assert e["upstream"].startswith("http://127.0.0.1:")
        assert e["recorded"] in files, e
    outcomes = {e["userMessage"]: e["outcome"] for e in journal}
    assert outcomes["Claude: Paris?"] == "forwarded 200"
    assert outcomes["throttle me"] == "forwarded 429"
    assert outcomes["overload"] == "forwarded 529"
    # GET /__mockmodel/recorded: every recorded fixture as one fixture file, each naming its file.
    got = recorded_doc["fixtures"]
    assert sorted(f["metadata"]["recordedFile"] for f in got) == sorted(files)


def test_invoke_model_responses_and_errors_replay_with_the_upstream_stopped(recorded_more, tmp_path):
    through_recorder, _, rec_dir, _, recorded_doc = recorded_more
    replay = Server("--fixtures", str(rec_dir), "--token-count", "estimate")
    try:
        assert more_calls(replay.url) == through_recorder
    finally:
        replay.stop()
    # The document /__mockmodel/recorded served is itself a fixture file that replays the same.
    (tmp_path / "recorded.json").write_text(json.dumps(recorded_doc))
    replay = Server("--fixtures", str(tmp_path / "recorded.json"), "--token-count", "estimate")
    try:
        assert more_calls(replay.url) == through_recorder
    finally:
        replay.stop()


def test_a_recorder_of_plain_http_upstreams_needs_no_system_ca_certificates(tmp_path):
    """A minimal image (the cluster tests' node images have no CA bundle) recording from another mock
    over http: it starts, re-signs and records. An https upstream without roots is refused at start,
    naming them."""
    (tmp_path / "upstream.json").write_text(json.dumps(UPSTREAM_FIXTURES))
    (tmp_path / "own.yaml").write_text("fixtures: [{match: {userMessage: never-asked}, response: {content: no}}]\n")
    no_roots = {**RECORDER_ENV, "SSL_CERT_FILE": str(tmp_path / "none"), "SSL_CERT_DIR": str(tmp_path / "none")}
    upstream = Server("--fixtures", str(tmp_path / "upstream.json"))
    recorder = Server(
        "--fixtures", str(tmp_path / "own.yaml"), "--record", upstream.url, "--record-dir", str(tmp_path / "rec"), env=no_roots
    )  # fmt: skip
    try:
        r = bedrock(recorder.url).converse(modelId=MODEL, messages=user("capital of France?"))
        assert r["output"]["message"]["content"] == [{"text": "The capital of France is Paris, on the Seine."}]
        wait_for(lambda: recorder.get_json("/__mockmodel/recorded")["fixtures"], "the recording")
    finally:
        recorder.stop()
        upstream.stop()
    r = subprocess.run(
        [server_binary(), "--port", "0", "--fixtures", str(tmp_path / "own.yaml"),
         "--record", "https://127.0.0.1:9", "--record-dir", str(tmp_path / "rec2")],
        capture_output=True, text=True, timeout=30, env={**os.environ, **no_roots},
    )  # fmt: skip
    assert r.returncode != 0
    assert "cannot load the system's TLS roots" in r.stderr
