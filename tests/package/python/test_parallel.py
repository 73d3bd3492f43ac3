import os

import openai
import pytest


def parent_pid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("PPid:")))


def test_each_xdist_worker_runs_its_own_session_server(mockmodel_session, worker_id):
    if os.environ.get("MOCKMODEL_EXPECT_XDIST"):
        assert worker_id.startswith("gw")
    assert parent_pid(mockmodel_session.pid) == os.getpid()  # this worker's child, not a shared one


# Four tests with their own fixtures and a 300 ms answer delay, run concurrently by the two workers:
# each sees only its own server's answer.
@pytest.mark.parametrize(
    "n",
    [
        pytest.param(
            n,
            marks=pytest.mark.mockmodel(
                fixtures=[{"match": {"userMessage": "who answers"}, "response": {"content": f"server {n}"}}],
                latency_ms=300,
            ),
        )
        for n in range(4)
    ],
)
def test_parallel_tests_see_their_own_fixtures(mockmodel, n):
    client = openai.OpenAI(**mockmodel.openai_kwargs())
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "who answers"}])
    assert r.choices[0].message.content == f"server {n}"
    assert len(mockmodel.journal()) == 1
