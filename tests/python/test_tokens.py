"""Usage counts for OpenAI models are the real tokenizer's: the `prompt_tokens` the openai SDK parses
equal what the `tiktoken` package counts for the same messages, chat framing included, as OpenAI's
cookbook counts it (`num_tokens_from_messages`).

tiktoken downloads its BPE ranks on first use, and nothing may leave this machine: the ranks are
put in tiktoken's cache from the tiktoken-rs crate cargo already fetched. tiktoken checks each file
against the SHA-256 of OpenAI's published one, so a wrong file fails loudly instead of agreeing
with the server by construction."""
import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
from openai import OpenAI

ROOT = Path(__file__).resolve().parents[2]
BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def tiktoken_rs_assets() -> Path:
    lock = (ROOT / "Cargo.lock").read_text()
    version = re.search(r'name = "tiktoken-rs"\nversion = "([^"]+)"', lock).group(1)
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found = sorted(cargo_home.glob(f"registry/src/*/tiktoken-rs-{version}/assets"))
    assert found, f"tiktoken-rs {version} sources not under {cargo_home} (cargo build fetches them)"
    return found[0]


@pytest.fixture(scope="module")
def tiktoken(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    assets = tiktoken_rs_assets()
    for name in ("o200k_base", "cl100k_base"):
        key = hashlib.sha1(BLOB.format(name).encode()).hexdigest()
        shutil.copy(assets / f"{name}.tiktoken", cache / key)
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    import tiktoken

    yield tiktoken
    if old is None:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = old


def cookbook_count(encoding, messages) -> int:
    """OpenAI cookbook, "How to count tokens with tiktoken", for gpt-4o / gpt-4 class models."""
    tokens = 0
    for message in messages:
        tokens += 3
        for key, value in message.items():
            tokens += len(encoding.encode(value))
            if key == "name":
                tokens += 1
    return tokens + 3


CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant that answers in one sentence."},
    {"role": "user", "content": "Quelle est la capitale de la France ? 🇫🇷"},
    {"role": "assistant", "content": "Paris est la capitale de la France."},
    {"role": "user", "content": "hello"},
]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "gpt-4", "gpt-3.5-turbo"])
def test_prompt_and_completion_tokens_match_tiktoken(server, tiktoken, model):
    client = OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
    r = client.chat.completions.create(model=model, messages=CONVERSATION)
    enc = tiktoken.encoding_for_model(model)
    assert r.usage.prompt_tokens == cookbook_count(enc, CONVERSATION)
    assert r.usage.completion_tokens == len(enc.encode(r.choices[0].message.content))
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # The streamed answer's final usage chunk says the same.
    stream = client.chat.completions.create(
        model=model, messages=CONVERSATION, stream=True, stream_options={"include_usage": True}
    )
    usage = [c.usage for c in stream if c.usage][-1]
    assert (usage.prompt_tokens, usage.completion_tokens) == (r.usage.prompt_tokens, r.usage.completion_tokens)


def test_embedding_usage_counts_each_input_with_the_models_encoding(server, tiktoken):
    client = OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
    inputs = ["The quick brown fox", "jumps over the lazy dog, 42 times."]
    r = client.embeddings.create(model="text-embedding-3-small", input=inputs)
    enc = tiktoken.encoding_for_model("text-embedding-3-small")
    assert r.usage.prompt_tokens == sum(len(enc.encode(t)) for t in inputs)


def test_models_without_a_public_tokenizer_keep_the_estimate(server):
    """A Llama model served on the OpenAI path: four characters a token, the documented estimate."""
    client = OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
    r = client.chat.completions.create(model="llama-3-8b", messages=[{"role": "user", "content": "hello"}])
    assert r.usage.prompt_tokens == 2  # ceil(len("hello") / 4)
    assert r.usage.completion_tokens == -(-len(r.choices[0].message.content) // 4)


CACHED = [{"role": "user", "content": "cached prompt"}]


def test_cache_and_reasoning_counts_in_openai_chat_and_responses(server):
    client = OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
    u = client.chat.completions.create(model="gpt-4o", messages=CACHED).usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1200, 40, 1240)
    assert u.prompt_tokens_details.cached_tokens == 1000
    assert u.completion_tokens_details.reasoning_tokens == 12
    r = client.responses.create(model="gpt-4o", input="cached prompt")
    assert (r.usage.input_tokens, r.usage.output_tokens) == (1200, 40)
    assert r.usage.input_tokens_details.cached_tokens == 1000
    assert r.usage.output_tokens_details.reasoning_tokens == 12


def test_cache_counts_in_anthropic_messages(server):
    """Anthropic's input_tokens is the uncached remainder; reads and writes are reported beside it."""
    import anthropic

    client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
    u = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=CACHED).usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens, u.output_tokens) == (100, 1000, 100, 40)
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=CACHED) as s:
        final = s.get_final_message()
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (100, 1000)


def test_cache_counts_in_bedrock_converse_and_stream(server):
    import boto3

    brt = boto3.client("bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    msgs = [{"role": "user", "content": [{"text": "cached prompt"}]}]
    u = brt.converse(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0", messages=msgs)["usage"]
    assert u == {"inputTokens": 100, "outputTokens": 40, "totalTokens": 1240,
                 "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 100}
    events = brt.converse_stream(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0", messages=msgs)["stream"]
    meta = [e["metadata"] for e in events if "metadata" in e][0]
    assert meta["usage"] == u
