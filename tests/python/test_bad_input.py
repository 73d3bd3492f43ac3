"""Bad input on every route: one data-driven test over a table of cases (route, headers, body bytes,
expected status, the protocol's error shape, the field the error must name), sent as raw HTTP so
nothing in between repairs the request. Every answer is the protocol's own error shape with the
field named, never a 5xx, never a hang (each request has a 10 s socket timeout); afterwards the
valid requests of every route still answer what they answered before.

Constraints come from the authorities (server/data/api-request-schemas.json for OpenAI and
Anthropic, botocore's service models and server/data/bedrock-model-bodies.json for AWS); the
expected words are the services' own (see test_validation.py and test_api_validation.py for the
SDK-level checks)."""
import http.client
import json
from urllib.parse import urlparse

import pytest

from conftest import FIXTURES, Server

MAX_BODY = 65536
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"

# --- valid bodies, one per decoder ---------------------------------------------------------------
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
EMBED = {"model": "text-embedding-3-small", "input": "hello"}
RESP = {"model": "gpt-4o", "input": "hello"}
MSG = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}
INVOKE = {
    "anthropic": (CLAUDE, {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}),
    "nova": ("amazon.nova-lite-v1:0", {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hello"}]}], "inferenceConfig": {"max_new_tokens": 50}}),
    "titan": ("amazon.titan-text-express-v1", {"inputText": "hello", "textGenerationConfig": {"maxTokenCount": 50}}),
    "llama": ("meta.llama3-8b-instruct-v1:0", {"prompt": "hello", "max_gen_len": 50}),
    "mistral": ("mistral.mistral-7b-instruct-v0:2", {"prompt": "hello", "max_tokens": 50}),
    "cohere": ("cohere.command-r-v1:0", {"message": "hello", "max_tokens": 50}),
}
COUNT = {"input": {"converse": CONVERSE}}
SM_CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}

# Routes by decoder: (path, shape) where shape names the error vocabulary.
OPENAI_CHAT = [("/v1/chat/completions", "openai"), ("/openai/v1/chat/completions", "openai")]
RESPONSES = [("/v1/responses", "openai"), ("/openai/v1/responses", "openai")]
MESSAGES = [("/v1/messages", "anthropic"), ("/anthropic/v1/messages", "anthropic")]
COUNT_TOKENS = [("/v1/messages/count_tokens", "anthropic"), ("/anthropic/v1/messages/count_tokens", "anthropic")]
CONVERSE_ROUTES = [(f"/model/{CLAUDE}/converse", "bedrock"), (f"/model/{CLAUDE}/converse-stream", "bedrock")]
INVOKE_OPS = ["invoke", "invoke-with-response-stream"]


def with_(base, **changes):
    body = json.loads(json.dumps(base))
    for k, v in changes.items():
        if v is DROP:
            body.pop(k, None)
        else:
            body[k] = v
    return body


DROP = object()
BIG = 18446744073709551616  # 2^64: json.dumps writes it as an integer literal


def msg_with(**changes):
    return with_(MSG, messages=[{**MSG["messages"][0], **changes}])


def chat_msg(**changes):
    m = {**CHAT["messages"][0], **changes}
    return with_(CHAT, messages=[{k: v for k, v in m.items() if v is not DROP}])


# (body, field, words): words is a fragment the message must contain.
CHAT_BAD = [
    (with_(CHAT, temperature=5), "temperature", "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead."),
    (with_(CHAT, temperature=-1), "temperature", "decimal below minimum value. Expected a value >= 0"),
    (with_(CHAT, temperature="hot"), "temperature", "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    (with_(CHAT, top_p=1.5), "top_p", "Expected a value <= 1, but got 1.5 instead."),
    (with_(CHAT, n=0), "n", "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."),
    (with_(CHAT, n=129), "n", "Expected a value <= 128"),
    (with_(CHAT, n=1.5), "n", "expected an integer, but got a decimal instead."),
    (with_(CHAT, max_tokens="100"), "max_tokens", "Invalid type for 'max_tokens': expected an integer, but got a string instead."),
    (with_(CHAT, max_tokens=BIG), "max_tokens", "integer above maximum value"),
    (with_(CHAT, max_tokens=0), "max_tokens", "integer below minimum value"),
    (with_(CHAT, max_completion_tokens=-5), "max_completion_tokens", "Expected a value >= 1"),
    (with_(CHAT, max_completion_tokens=[1]), "max_completion_tokens", "but got an array instead"),
    (with_(CHAT, presence_penalty=3), "presence_penalty", "Expected a value <= 2"),
    (with_(CHAT, frequency_penalty=-2.5), "frequency_penalty", "Expected a value >= -2"),
    (with_(CHAT, top_logprobs=21), "top_logprobs", "Expected a value <= 20"),
    (with_(CHAT, logprobs="yes"), "logprobs", "expected a boolean"),
    (with_(CHAT, stream="yes"), "stream", "expected a boolean"),
    (with_(CHAT, seed="x"), "seed", "expected an integer"),
    (with_(CHAT, stop=5), "stop", "Invalid type for 'stop': expected one of a string or array of strings, but got an integer instead."),
    (with_(CHAT, stream_options="x"), "stream_options", "expected an object"),
    (with_(CHAT, messages=DROP), "messages", "Missing required parameter: 'messages'."),
    (with_(CHAT, model=DROP), "model", "Missing required parameter: 'model'."),
    (with_(CHAT, model=5), "model", "expected a string, but got an integer instead."),
    (with_(CHAT, messages=[]), "messages", "empty array"),
    (with_(CHAT, messages="hello"), "messages", "expected an array, but got a string instead."),
    (chat_msg(content=5), "messages[0].content", "expected one of a string or array of objects, but got an integer instead."),
    (chat_msg(content={"text": "hello"}), "messages[0].content", "but got an object instead."),
    (chat_msg(role="robot"), "messages[0].role", "Invalid value: 'robot'. Supported values are:"),
    (chat_msg(role=DROP), "messages[0].role", "Missing required parameter: 'messages[0].role'."),
    (chat_msg(content=DROP), "messages[0].content", "Missing required parameter: 'messages[0].content'."),
    (chat_msg(role="tool"), "messages[0].tool_call_id", "Missing required parameter: 'messages[0].tool_call_id'."),
    (chat_msg(content=[{"type": "video", "text": "x"}]), "messages[0].content[0].type", "Invalid value: 'video'"),
    (chat_msg(content=[{"type": "text"}]), "messages[0].content[0].text", "Missing required parameter"),
    (chat_msg(content=[{"type": "image_url"}]), "messages[0].content[0].image_url", "Missing required parameter"),
    (with_(CHAT, tool_choice="sometimes"), "tool_choice", "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'."),
    (with_(CHAT, tool_choice={"type": "function"}), "tool_choice.function", "Missing required parameter"),
    (with_(CHAT, response_format={"type": "yaml"}), "response_format.type", "Invalid value: 'yaml'. Supported values are: 'text', 'json_object', and 'json_schema'."),
    (with_(CHAT, response_format="json"), "response_format", "expected an object"),
    (with_(CHAT, response_format={"type": "json_schema"}), "response_format.json_schema", "Missing required parameter"),
    (with_(CHAT, tools=[{"type": "function"}]), "tools[0].function", "Missing required parameter"),
    (with_(CHAT, tools=[{"type": "function", "function": {"description": "no name"}}]), "tools[0].function.name", "Missing required parameter"),
]

EMBED_BAD = [
    (with_(EMBED, input=DROP), "input", "Missing required parameter: 'input'."),
    (with_(EMBED, input=5), "input", "Invalid type for 'input'"),
    (with_(EMBED, input=[]), "input", "empty array"),
    (with_(EMBED, encoding_format="hex"), "encoding_format", "Supported values are: 'float' and 'base64'."),
    (with_(EMBED, dimensions=0), "dimensions", "integer below minimum value"),
    (with_(EMBED, dimensions="8"), "dimensions", "expected an integer"),
    (with_(EMBED, model=DROP), "model", "Missing required parameter: 'model'."),
]

RESP_BAD = [
    (with_(RESP, temperature=3), "temperature", "decimal above maximum value. Expected a value <= 2, but got 3 instead."),
    (with_(RESP, top_p=2), "top_p", "Expected a value <= 1"),
    (with_(RESP, max_output_tokens=10), "max_output_tokens", "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead."),
    (with_(RESP, max_output_tokens="x"), "max_output_tokens", "expected an integer"),
    (with_(RESP, stream="x"), "stream", "expected a boolean"),
    (with_(RESP, input=5), "input", "Invalid type for 'input'"),
    (with_(RESP, text={"format": {"type": "yaml"}}), "text.format.type", "Invalid value: 'yaml'"),
    (with_(RESP, tool_choice="x"), "tool_choice", "Invalid value: 'x'"),
    (with_(RESP, truncation="x"), "truncation", "Supported values are: 'auto' and 'disabled'."),
    (with_(RESP, store="x"), "store", "expected a boolean"),
]

MSG_BAD = [
    (with_(MSG, temperature=5), "temperature", "temperature: Input should be less than or equal to 1"),
    (with_(MSG, temperature=-0.5), "temperature", "temperature: Input should be greater than or equal to 0"),
    (with_(MSG, top_p=2), "top_p", "top_p: Input should be less than or equal to 1"),
    (with_(MSG, top_k=-1), "top_k", "top_k: Input should be greater than or equal to 0"),
    (with_(MSG, max_tokens="x"), "max_tokens", "max_tokens: Input should be a valid integer"),
    (with_(MSG, max_tokens=0), "max_tokens", "max_tokens: Input should be greater than or equal to 1"),
    (with_(MSG, max_tokens=DROP), "max_tokens", "max_tokens: Field required"),
    (with_(MSG, messages=DROP), "messages", "messages: Field required"),
    (with_(MSG, model=DROP), "model", "model: Field required"),
    (msg_with(role="robot"), "messages.0.role", "messages.0.role: Input should be 'user' or 'assistant'"),
    (msg_with(content=5), "messages.0.content", "messages.0.content: Input should be a valid list"),
    (with_(MSG, tool_choice={"type": "sometimes"}), "tool_choice.type", "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"),
    (with_(MSG, thinking={"type": "enabled"}), "thinking.budget_tokens", "thinking.budget_tokens: Field required"),
    (with_(MSG, stream="x"), "stream", "stream: Input should be a valid boolean"),
    (with_(MSG, stop_sequences="x"), "stop_sequences", "stop_sequences: Input should be a valid list"),
    (with_(MSG, system=5), "system", "system: Input should be a valid list"),
]

COUNT_BAD = [
    (with_(MSG, model=DROP, max_tokens=DROP), "model", "model: Field required"),
    (with_(MSG, messages=DROP), "messages", "messages: Field required"),
    (msg_with(role="robot"), "messages.0.role", "Input should be 'user' or 'assistant'"),
]

# Converse: botocore's service model, in AWS's words (`Value '5.0' at 'inferenceConfig.temperature'`).
CONVERSE_BAD = [
    (with_(CONVERSE, inferenceConfig={"temperature": 5}), "inferenceConfig.temperature", "Member must have value less than or equal to 1"),
    (with_(CONVERSE, inferenceConfig={"topP": 2}), "inferenceConfig.topP", "Member must have value less than or equal to 1"),
    (with_(CONVERSE, inferenceConfig={"maxTokens": 0}), "inferenceConfig.maxTokens", "Member must have value greater than or equal to 1"),
    (with_(CONVERSE, messages=[{"role": "robot", "content": [{"text": "x"}]}]), "role", "Member must satisfy enum value set"),
    (with_(CONVERSE, inferenceConfig={"maxTokens": "many"}), "maxTokens", ""),
]

# InvokeModel bodies: the family's schema, in Bedrock's words (`#/temperature: 5 is not less or equal to 1`).
INVOKE_BAD = [
    ("anthropic", {"max_tokens": "100"}, "#/max_tokens: expected type: Integer, found: String"),
    ("anthropic", {"temperature": 5}, "#/temperature: 5 is not less or equal to 1"),
    ("nova", {"inferenceConfig": {"temperature": 5}}, "#/inferenceConfig/temperature: 5 is not less or equal to 1"),
    ("nova", {"inferenceConfig": {"max_new_tokens": "10"}}, "#/inferenceConfig/max_new_tokens: expected type: Integer, found: String"),
    ("nova", {"messages": [{"role": "robot", "content": [{"text": "x"}]}]}, "#/messages/0/role"),
    ("nova", {"messages": [{"role": "user", "content": "hello"}]}, "#/messages/0/content: expected type: JSONArray, found: String"),
    ("titan", {"textGenerationConfig": {"temperature": 2}}, "#/textGenerationConfig/temperature: 2 is not less or equal to 1"),
    ("llama", {"max_gen_len": 5000}, "#/max_gen_len: 5000 is not less or equal to 2048"),
    ("mistral", {"top_k": 300}, "#/top_k: 300 is not less or equal to 200"),
    ("cohere", {"p": 1.5}, "#/p: 1.5 is not less or equal to 0.99"),
]

# Raw bytes every JSON route must refuse in its own shape: (id, headers, body, status).
DEEP = b"[" * 200 + b"]" * 200
RAW = [
    ("invalid-json", {"content-type": "application/json"}, b'{"model": "x", ', 400),
    ("invalid-utf8", {"content-type": "application/json"}, b'{"model": "\xff\xfe"}', 400),
    ("empty-body", {"content-type": "application/json"}, b"", 400),
    ("deep-nesting", {"content-type": "application/json"}, DEEP, 400),
    ("top-level-array", {"content-type": "application/json"}, b"[1, 2]", 400),
    ("form-content-type", {"content-type": "application/x-www-form-urlencoded"}, b"model=gpt-4o&temperature=5", 400),
    ("oversize", {"content-type": "application/json"}, b'{"x": "' + b"a" * (MAX_BODY + 10) + b'"}', 413),
]

GUARD_APPLY = "/guardrail/gr1abc/version/1/apply"
GUARD_CHECKS = "/guardrail-checks/invoke"
APPLY = {"source": "INPUT", "content": [{"text": {"text": "hello"}}]}
CHECKS = {"messages": [{"role": "user", "content": [{"text": "hello"}]}], "checks": {"contentFilter": {"categories": [{"category": "HATE"}]}}}
# Guardrails: botocore's ApplyGuardrail / InvokeGuardrailChecks shapes, in AWS's words.
GUARD_BAD = [
    (GUARD_APPLY, with_(APPLY, source="SIDEWAYS"), "source", "Member must satisfy enum value set: [INPUT, OUTPUT]"),
    (GUARD_APPLY, with_(APPLY, content=DROP), "content", "Member must not be null"),
    (GUARD_APPLY, with_(APPLY, content="x"), "content", ""),
    ("/guardrail/gr1abc/version/v1/apply", APPLY, "guardrailVersion", "Member must satisfy regular expression pattern"),
    (GUARD_CHECKS, with_(CHECKS, messages=DROP), "messages", "Member must not be null"),
    (GUARD_CHECKS, with_(CHECKS, messages=[{"role": "robot", "content": [{"text": "x"}]}]), "messages.1.member.role", "Member must satisfy enum value set"),
]

JSON_ROUTES = (
    OPENAI_CHAT
    + [("/v1/embeddings", "openai")]
    + RESPONSES
    + MESSAGES
    + COUNT_TOKENS
    + CONVERSE_ROUTES
    + [(f"/model/{CLAUDE}/{op}", "bedrock") for op in INVOKE_OPS]
    + [(f"/model/{CLAUDE}/count-tokens", "bedrock")]
    + [(GUARD_APPLY, "bedrock"), (GUARD_CHECKS, "bedrock")]
)


def cases():
    out = []
    for path, shape in OPENAI_CHAT:
        out += [pytest.param(path, {}, body, 400, shape, field, words, id=f"{path}:{field}:{i}") for i, (body, field, words) in enumerate(CHAT_BAD)]
    out += [pytest.param("/v1/embeddings", {}, b, 400, "openai", f, w, id=f"embeddings:{f}:{i}") for i, (b, f, w) in enumerate(EMBED_BAD)]
    for path, shape in RESPONSES:
        out += [pytest.param(path, {}, b, 400, shape, f, w, id=f"{path}:{f}:{i}") for i, (b, f, w) in enumerate(RESP_BAD)]
    for path, shape in MESSAGES:
        out += [pytest.param(path, {}, b, 400, shape, f, w, id=f"{path}:{f}:{i}") for i, (b, f, w) in enumerate(MSG_BAD)]
    for path, shape in COUNT_TOKENS:
        out += [pytest.param(path, {}, b, 400, shape, f, w, id=f"{path}:{f}:{i}") for i, (b, f, w) in enumerate(COUNT_BAD)]
    for path, shape in CONVERSE_ROUTES:
        out += [pytest.param(path, {}, b, 400, shape, f, w, id=f"{path}:{f}:{i}") for i, (b, f, w) in enumerate(CONVERSE_BAD)]
    for op in INVOKE_OPS:
        for i, (family, change, words) in enumerate(INVOKE_BAD):
            model, base = INVOKE[family]
            body = {**base, **change}
            out.append(pytest.param(f"/model/{model}/{op}", {}, body, 400, "bedrock", None, words, id=f"{op}:{family}:{i}"))
    out += [pytest.param(path, {}, b, 400, "bedrock", f, w, id=f"guardrail:{f}:{i}") for i, (path, b, f, w) in enumerate(GUARD_BAD)]
    out.append(pytest.param(f"/model/{CLAUDE}/count-tokens", {}, {"input": {}}, 400, "bedrock", "input", "", id="count-tokens:empty-union"))
    out.append(pytest.param(f"/model/{CLAUDE}/count-tokens", {}, {"input": {"converse": {"messages": "x"}}}, 400, "bedrock", "messages", "", id="count-tokens:messages-type"))
    out.append(pytest.param("/endpoints/my_llm/invocations", {"content-type": "application/json"}, SM_CHAT, 400, "sagemaker", "endpointName", "regular expression pattern", id="sagemaker:endpoint-pattern"))
    out.append(pytest.param("/endpoints/my-llm/invocations", {"content-type": "application/json", "x-amzn-sagemaker-custom-attributes": "x" * 1025}, SM_CHAT, 400, "sagemaker", "customAttributes", "", id="sagemaker:custom-attributes-length"))
    for path, shape in JSON_ROUTES + SAGEMAKER_ROUTES:
        for rid, headers, body, status in RAW:
            out.append(pytest.param(path, headers, body, status, shape, None, "", id=f"{path}:{rid}"))
    # A method the route does not serve: 405 in the protocol's shape (AWS: UnknownOperationException).
    for method, path, shape in WRONG_METHODS:
        out.append(pytest.param(path, {"x-method": method}, b"", 405, shape, None, f"Method {method} is not allowed", id=f"{method}:{path}"))
    return out


SAGEMAKER_ROUTES = [
    ("/endpoints/my-llm/invocations", "sagemaker"),
    ("/endpoints/my-llm/invocations-response-stream", "sagemaker"),
    ("/invocations", "container"),
]
WRONG_METHODS = [
    ("GET", "/v1/chat/completions", "openai"),
    ("GET", "/openai/v1/chat/completions", "openai"),
    ("DELETE", "/v1/embeddings", "openai"),
    ("PUT", "/v1/responses", "openai"),
    ("GET", "/v1/messages", "anthropic"),
    ("GET", "/v1/messages/count_tokens", "anthropic"),
    ("GET", f"/model/{CLAUDE}/converse", "aws405"),
    ("GET", f"/model/{CLAUDE}/invoke", "aws405"),
    ("GET", "/endpoints/my-llm/invocations", "aws405"),
]


CASES = cases()


@pytest.fixture(scope="module")
def srv():
    s = Server("--fixtures", str(FIXTURES), "--max-body-bytes", str(MAX_BODY))
    yield s
    s.stop()


def send(url, path, headers, body, method="POST"):
    headers = dict(headers)
    method = headers.pop("x-method", method)
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"content-type": "application/json", **headers}
    conn.request(method, path.replace(":", "%3A") if path.startswith("/model/") else path, body=data, headers=hdrs)
    res = conn.getresponse()
    raw = res.read()
    conn.close()
    return res.status, {k.lower(): v for k, v in res.getheaders()}, raw


def check_shape(shape, headers, raw, field, words):
    body = json.loads(raw)
    if shape == "openai":
        err = body["error"]
        assert set(err) >= {"message", "type", "param", "code"}, body
        assert err["type"] == "invalid_request_error", body
        assert err["code"] != "no_fixture_match", body
        if field:
            assert err["param"] == field, body
        assert words in err["message"], body
        return err["message"]
    if shape == "anthropic":
        assert body["type"] == "error" and body["request_id"].startswith("req_"), body
        assert body["error"]["type"] in ("invalid_request_error", "request_too_large"), body
        if field:
            assert body["error"]["message"].startswith(f"{field}: "), body
        assert words in body["error"]["message"], body
        return body["error"]["message"]
    if shape == "container":
        # The SageMaker container contract (/invocations): the serving container's own JSON error.
        assert body["error"] and body["error_type"], body
        return body["error"]
    # AWS: the modelled error name in x-amzn-ErrorType, the message in the body.
    kind = headers["x-amzn-errortype"].split(":")[0]
    message = body.get("message") or body.get("Message")
    assert message, body
    if shape == "aws405":
        assert kind == "UnknownOperationException", (kind, body)
    elif shape == "bedrock":
        assert kind in ("ValidationException", "SerializationException"), (kind, body)
    else:
        assert kind == "ValidationError", (kind, body)
    if field:
        assert field in message, message
    assert words in message, message
    return message


@pytest.mark.parametrize("path, headers, body, status, shape, field, words", CASES)
def test_bad_input_gets_the_protocols_error_with_the_field_named(srv, before, path, headers, body, status, shape, field, words):
    got, res_headers, raw = send(srv.url, path, headers, body)
    assert got == status, (got, raw[:500])
    check_shape(shape, res_headers, raw, field, words)


def test_the_table_has_at_least_150_cases_over_every_route():
    assert len(CASES) >= 150, len(CASES)
    routes = {p.values[0] for p in CASES}
    for path, _ in JSON_ROUTES + SAGEMAKER_ROUTES:
        assert path in routes


VALID = [
    ("/v1/chat/completions", CHAT, lambda b: b["choices"][0]["message"]["content"]),
    ("/openai/v1/chat/completions", CHAT, lambda b: b["choices"][0]["message"]["content"]),
    ("/v1/embeddings", EMBED, lambda b: b["data"][0]["embedding"][:4]),
    ("/v1/responses", RESP, lambda b: b["output"][-1]["content"][0]["text"]),
    ("/v1/messages", MSG, lambda b: b["content"][0]["text"]),
    ("/anthropic/v1/messages", MSG, lambda b: b["content"][0]["text"]),
    ("/v1/messages/count_tokens", with_(MSG, max_tokens=DROP), lambda b: b["input_tokens"]),
    (f"/model/{CLAUDE}/converse", CONVERSE, lambda b: b["output"]["message"]["content"][0]["text"]),
    (f"/model/{CLAUDE}/count-tokens", COUNT, lambda b: b["inputTokens"]),
] + [(f"/model/{m}/invoke", body, lambda b: json.dumps(b, sort_keys=True)[:0] or sorted(b)) for m, body in INVOKE.values()] + [
    ("/endpoints/my-llm/invocations", SM_CHAT, lambda b: b["choices"][0]["message"]["content"]),
    (GUARD_APPLY, APPLY, lambda b: b["action"]),
    (GUARD_CHECKS, CHECKS, lambda b: b["results"]),
]


@pytest.fixture(scope="module")
def before(srv):
    return [answer(srv, path, body, read) for path, body, read in VALID]


def answer(srv, path, body, read):
    status, _, raw = send(srv.url, path, {}, body)
    assert status == 200, (path, raw[:300])
    return read(json.loads(raw))


def test_valid_requests_answer_the_same_after_the_bad_ones(srv, before):
    # Runs after the table (pytest keeps definition order); `before` was taken when the server
    # started, so a bad request that damaged state would show here.
    for i in range(len(CASES) // 20):
        path, headers, body = CASES[i * 20].values[:3]
        send(srv.url, path, headers, body)
    after = [answer(srv, path, body, read) for path, body, read in VALID]
    assert after == before
