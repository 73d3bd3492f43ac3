"""Fault injection and LLM-shaped metrics, seen through the real OpenAI SDK: each fault surfaces as
the client's own exception, and a seeded streaming profile repeats its timing."""
import json
import re

import httpx
import openai
import pytest
from openai import OpenAI


@pytest.fixture
def client(server):
    return OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)


HELLO = [{"role": "user", "content": "hello"}]


def test_fail_first_n_then_succeed_per_test_id(client):
    h = {"X-Mockmodel-Fail-First": "2", "X-Test-Id": "flaky"}
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as e:
            client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers=h)
        assert e.value.response.headers["retry-after"] == "1"
    r = client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers=h)
    assert r.choices[0].message.content == "Hello! How can I help you today?"


def test_sdk_retries_ride_out_fail_first(server):
    """With its default retries, the SDK honours Retry-After and succeeds on the third attempt."""
    patient = OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=2)
    h = {"X-Mockmodel-Fail-First": "2", "X-Test-Id": "retrying", "X-Mockmodel-Fail-With": "unavailable"}
    r = patient.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers=h)
    assert r.choices[0].message.content == "Hello! How can I help you today?"


def test_aimock_chaos_drop_header_is_a_server_error(client):
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers={"X-AIMock-Chaos-Drop": "1"})
    assert e.value.status_code == 500


def test_malformed_stream_chunk_fails_the_sdk_parser(client):
    stream = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, extra_headers={"X-Mockmodel-Fault": "malformed"}
    )
    with pytest.raises(json.JSONDecodeError):
        for _ in stream:
            pass


def test_malformed_unary_body_fails_the_sdk(client):
    with pytest.raises((json.JSONDecodeError, openai.APIResponseValidationError)):
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers={"X-Mockmodel-Fault": "malformed"})


def test_mid_stream_disconnect_raises_after_partial_content(client):
    stream = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, extra_headers={"X-Mockmodel-Fault": "disconnect"}
    )
    got = []
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)):
        for c in stream:
            got.append(c.choices[0].delta.content or "")
    # "hello" streams 7 chunks of 5 characters; the disconnect comes after 7 // 2 = 3 of them.
    assert "".join(got) == "Hello! How can "


def planned_schedule(client, seed):
    """The seeded stream's planned send offsets (ms) and the content chunks the SDK parsed."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "jitter"}],
        stream=True,
        extra_headers={"X-Mockmodel-Seed": str(seed)},
    )
    planned = [float(x) for x in raw.headers["x-mockmodel-schedule-ms"].split(",")]
    chunks = [c.choices[0].delta.content for c in raw.parse() if c.choices and c.choices[0].delta.content]
    return planned, chunks


def test_a_seeded_profile_gives_the_same_frame_timing_twice(client):
    """The schedule is asserted as planned (no wall-clock measurement, which a loaded machine skews)."""
    (a, text_a), (b, text_b), (other, _) = (planned_schedule(client, s) for s in (42, 42, 7))
    assert len(a) == len(text_a) == 7 and text_a == text_b
    assert a == b and a != other
    # ttft 50 ms, then tps 5 (200 ms) with jitter 0.6: each gap lies between 80 and 320 ms.
    gaps = [y - x for x, y in zip(a, a[1:])]
    assert all(79.9 <= g <= 320.1 for g in gaps), gaps


def test_vllm_metrics_follow_requests(client, server):
    stream = client.chat.completions.create(model="llama-3-8b", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello! How can I help you today?"
    client.chat.completions.create(model="llama-3-8b", messages=HELLO)
    m = server.get_text("/metrics")
    assert 'vllm:time_to_first_token_seconds_count{model_name="llama-3-8b"} 1' in m
    assert 'vllm:inter_token_latency_seconds_count{model_name="llama-3-8b"} 6' in m
    assert 'vllm:e2e_request_latency_seconds_count{model_name="llama-3-8b"} 2' in m
    assert 'vllm:num_requests_running{model_name="llama-3-8b"} 0' in m
    assert 'vllm:generation_tokens_total{model_name="llama-3-8b"}' in m
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers={"X-Mockmodel-Fault": "throttle"})
    m = server.get_text("/metrics")
    throttled = re.search(r'^mockmodel_faults_total\{kind="throttle"\} (\d+)', m, flags=re.M)
    assert throttled and int(throttled.group(1)) >= 1


def test_error_after_chunks_is_an_error_event_mid_stream(client):
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "fail midway"}], stream=True
    )
    got = []
    with pytest.raises(openai.APIError) as e:
        for c in stream:
            got.append(c.choices[0].delta.content or "")
    assert "".join(got) == "This ans"
    assert e.value.message == "model overloaded mid-stream"
    # Not streamed: the whole request fails with the fixture's status.
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "fail midway"}])
    assert e.value.status_code == 503
