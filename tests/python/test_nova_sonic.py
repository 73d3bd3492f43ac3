"""Bedrock InvokeModelWithBidirectionalStream (Amazon Nova Sonic) sessions, driven by the AWS SDK for
JavaScript v3 (tests/js/nova_sonic_client.cjs: its default HTTP/2 handler, h2c on http://) against
the fixtures in tests/fixtures-nova-sonic. Every assertion is on what the SDK parsed."""
import re

import pytest

from conftest import ROOT, Server, run_node

FIXTURES = ROOT / "tests" / "fixtures-nova-sonic"
# The prompt asks for 24 kHz, 16-bit, mono LPCM: 48 bytes a millisecond.
BYTES_PER_MS = 24_000 * 2 // 1000


@pytest.fixture(scope="module")
def sonic():
    s = Server("--fixtures", str(FIXTURES))
    out = run_node("nova_sonic_client.cjs", s.url)
    yield s, out
    s.stop()


def spoken_ms(text: str) -> int:
    """The documented default length of the assistant's audio: 60 ms a character, at least 500 ms."""
    return max(len(text) * 60, 500)


def test_the_default_http2_handler_opens_the_session(sonic):
    _, out = sonic
    assert out["handler"] == "NodeHttp2Handler"
    assert out["text"]["httpStatus"] == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", out["text"]["requestId"])


def test_a_text_turn_is_answered_in_the_services_event_order(sonic):
    _, out = sonic
    s = out["text"]
    assert s["error"] is None
    assert s["order"] == [
        "completionStart",
        "contentStart:TEXT",
        "textOutput",
        "contentEnd:TEXT:PARTIAL_TURN",
        "contentStart:AUDIO",
        "audioOutput",
        "contentEnd:AUDIO:END_TURN",
        "contentStart:TEXT",
        "textOutput",
        "contentEnd:TEXT:END_TURN",
        "usageEvent",
        "completionEnd:END_TURN",
    ]
    assert s["texts"] == [
        {"role": "ASSISTANT", "stage": "SPECULATIVE", "content": "Hello from Nova!"},
        {"role": "ASSISTANT", "stage": "FINAL", "content": "Hello from Nova!"},
    ]
    # Every event repeats the session's ids and the client's promptName.
    assert all(e["ids"] for e in s["events"])
    usage = [e for e in s["events"] if e["name"] == "usageEvent"]
    assert usage[0]["totalTokens"] > 0


def test_the_audio_has_the_requested_format_and_the_texts_length(sonic):
    _, out = sonic
    s = out["text"]
    start = next(e for e in s["events"] if e["name"] == "contentStart" and e["type"] == "AUDIO")
    assert start["role"] == "ASSISTANT"
    assert start["audioOutputConfiguration"] == {
        "mediaType": "audio/lpcm",
        "sampleRateHertz": 24000,
        "sampleSizeBits": 16,
        "channelCount": 1,
        "encoding": "base64",
        "audioType": "SPEECH",
        "voiceId": "matthew",
    }
    [audio] = s["audioBytes"].values()
    assert audio == spoken_ms("Hello from Nova!") * BYTES_PER_MS
    # 100 ms of audio per audioOutput event.
    assert s["audioOutputs"] == -(-spoken_ms("Hello from Nova!") // 100)


def test_a_tool_call_round_trip_continues_the_turn(sonic):
    server, out = sonic
    s = out["tool"]
    assert s["error"] is None
    assert s["order"][:5] == [
        "completionStart",
        "contentStart:TOOL",
        "toolUse",
        "contentEnd:TOOL:TOOL_USE",
        "usageEvent",
    ]
    tool = next(e for e in s["events"] if e["name"] == "toolUse")
    assert (tool["toolName"], tool["toolUseId"]) == ("get_weather", "tooluse-1")
    assert tool["content"] == '{"city":"Paris"}'
    assert [t["content"] for t in s["texts"]] == ["It is sunny in Paris."] * 2
    assert s["order"][-1] == "completionEnd:END_TURN"
    # Both turns are in the journal, the second matched with the tool result.
    journal = server.get_json("/__mockmodel/journal")["entries"]
    ops = [e for e in journal if e["operation"] == "InvokeModelWithBidirectionalStream"]
    assert any((e["fixture"] or "").endswith("#1") for e in ops)
    assert any((e["fixture"] or "").endswith("#2") for e in ops)
    # And one entry per session when it ends: the tool session matched twice.
    sessions = [e["outcome"] for e in ops if e["outcome"].startswith("session ")]
    assert "session completed (turns: 2)" in sessions
    assert "session error (turns: 1)" in sessions


def test_an_audio_turn_ends_on_silence_and_echoes_the_declared_transcript(sonic):
    _, out = sonic
    s = out["audio"]
    assert s["error"] is None
    assert s["texts"][0] == {"role": "USER", "stage": "FINAL", "content": "what time is it"}
    assert s["texts"][1:] == [
        {"role": "ASSISTANT", "stage": "SPECULATIVE", "content": "It is ten past nine."},
        {"role": "ASSISTANT", "stage": "FINAL", "content": "It is ten past nine."},
    ]
    # The fixture declares 1000 ms of speech.
    assert list(s["audioBytes"].values()) == [1000 * BYTES_PER_MS]
    assert s["order"][-1] == "completionEnd:END_TURN"


def test_speaking_over_the_assistant_interrupts_it(sonic):
    _, out = sonic
    s = out["bargeIn"]
    assert s["error"] is None
    assert "contentEnd:AUDIO:INTERRUPTED" in s["order"]
    assert s["texts"][-1] == {"role": "ASSISTANT", "stage": "FINAL", "content": '{ "interrupted" : true }'}
    assert "contentEnd:TEXT:INTERRUPTED" in s["order"]
    # The fixture's 10 s of audio were cut short: far less than all of it arrived.
    [audio] = s["audioBytes"].values()
    assert 0 < audio < 10_000 * BYTES_PER_MS


def test_a_fixture_error_is_the_streams_exception(sonic):
    _, out = sonic
    assert out["error"]["error"] == {"name": "ThrottlingException", "message": "Too many sessions"}


def test_sessions_are_counted(sonic):
    server, _ = sonic
    metrics = server.get_text("/metrics")
    assert "mockmodel_bidi_sessions_active 0" in metrics
    completed = re.search(r'mockmodel_bidi_sessions_total\{outcome="completed"\} (\d+)', metrics)
    errors = re.search(r'mockmodel_bidi_sessions_total\{outcome="error"\} (\d+)', metrics)
    assert int(completed.group(1)) == 4
    assert int(errors.group(1)) == 1
