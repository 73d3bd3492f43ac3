import openai
import pytest


@pytest.mark.mockmodel(fixtures=[{"match": {"userMessage": "capital of France"}, "response": {"content": "Paris."}}])
def test_openai_chat_gets_this_tests_fixture(mockmodel, request):
    client = openai.OpenAI(**mockmodel.openai_kwargs())
    r = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    assert r.choices[0].message.content == "Paris."
    assert r.usage.completion_tokens > 0
    [entry] = mockmodel.journal()
    assert (entry["protocol"], entry["operation"], entry["testId"]) == ("openai", "chat.completions", request.node.nodeid)
    assert entry["fixture"].endswith("#0")


@pytest.mark.mockmodel(
    fixtures=[{"match": {"userMessage": "count to four"}, "response": {"content": "one two three four"}}],
    chunk_size=4,
)
def test_openai_stream_uses_server_options_from_the_marker(mockmodel):
    client = openai.OpenAI(**mockmodel.openai_kwargs())
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "count to four"}], stream=True
    )
    deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == "one two three four"
    assert deltas[0] == "one " and len(deltas) == 5  # --chunk-size 4


def test_without_a_marker_the_shared_session_server_answers(mockmodel):
    client = openai.OpenAI(**mockmodel.openai_kwargs())
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "Hello from the shared session server."
