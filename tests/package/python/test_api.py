"""mockmodel.Server without the pytest fixtures: fixtures as paths and dicts, journal/reset, env(),
the packaged binary, and no orphan server when the process that started it is killed."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai

import mockmodel


def test_the_wheel_ships_the_binary_and_python_m_runs_it():
    binary = Path(mockmodel.find_binary())
    assert binary.is_relative_to(Path(sys.prefix).resolve()) or binary.is_relative_to(Path(sys.prefix))
    out = subprocess.run([sys.executable, "-m", "mockmodel", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"mockmodel-server {mockmodel.__version__}"


def test_server_with_a_path_and_dicts(tmp_path):
    path = tmp_path / "file.json"
    path.write_text(json.dumps({"fixtures": [{"match": {"userMessage": "from file"}, "response": {"content": "file"}}]}))
    inline = {"match": {"userMessage": "inline"}, "response": {"content": "dict"}}
    with mockmodel.Server(fixtures=[path, inline]) as mm:
        assert mm.url.startswith("http://127.0.0.1:") and mm.openai_base_url == mm.url + "/v1"
        env = mm.env()
        assert env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == mm.url
        assert env["OPENAI_BASE_URL"] == mm.openai_base_url and env["ANTHROPIC_BASE_URL"] == mm.url
        assert env["AWS_EC2_METADATA_DISABLED"] == "true" and env["AWS_ACCESS_KEY_ID"] == "test"
        client = openai.OpenAI(base_url=mm.openai_base_url, api_key="test", max_retries=0)
        ask = lambda text: client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
        assert ask("from file").choices[0].message.content == "file"
        assert ask("inline").choices[0].message.content == "dict"
        try:
            ask("nothing matches")
        except openai.NotFoundError:
            pass
        assert [e["fixture"] is None for e in mm.journal()] == [False, False, True]
        assert [e["userMessage"] for e in mm.journal(unmatched=True)] == ["nothing matches"]
        mm.reset()
        assert mm.journal() == []
        tmpdir = mm._tmpdir
        assert tmpdir and os.path.isdir(tmpdir)
    assert not os.path.exists(tmpdir)
    assert mm.process is None


def refused(url, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).close()
        except (urllib.error.URLError, ConnectionError, OSError):
            return True
        time.sleep(0.05)
    return False


def run_and_kill(start_code):
    """Starts a Python process that starts a server, SIGKILLs it, returns the server's URL."""
    code = textwrap.dedent(
        f"""
        import sys, threading, time, mockmodel
        {start_code}
        print(server.url, flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://")
    urllib.request.urlopen(url + "/healthz", timeout=5).close()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return url


def test_no_orphan_when_the_starting_process_is_killed():
    # Main thread: PR_SET_PDEATHSIG.
    assert refused(run_and_kill("server = mockmodel.Server().start()"))


def test_no_orphan_when_started_from_another_thread():
    # Another thread: the watchdog process, which sees its stdin pipe close.
    start = (
        "box = []; t = threading.Thread(target=lambda: box.append(mockmodel.Server().start())); "
        "t.start(); t.join(); server = box[0]"
    )
    assert refused(run_and_kill(start))


def test_stop_is_prompt_on_both_paths():
    # Main thread (PR_SET_PDEATHSIG) and another thread (watchdog): SIGTERM, the server shuts down.
    import threading

    for start_in_thread in (False, True):
        box = []
        start = lambda: box.append(mockmodel.Server().start())
        if start_in_thread:
            t = threading.Thread(target=start)
            t.start()
            t.join()
        else:
            start()
        server = box[0]
        urllib.request.urlopen(server.url + "/healthz", timeout=5).close()
        t0 = time.monotonic()
        server.stop()
        assert time.monotonic() - t0 < 3, f"stop took {time.monotonic() - t0:.1f} s (thread={start_in_thread})"
        assert refused(server.url, timeout=1)
        assert any("shutting down" in line for line in server.log)
