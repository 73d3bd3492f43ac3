"""The mockmodel-server binary as a user runs it: embedded defaults, `validate`, `--help`, and hot
reload of a directory laid out exactly like a mounted ConfigMap (kubelet's atomic `..data` swap)."""
import os
import subprocess
import time

import pytest
from openai import OpenAI

from conftest import Server, server_binary


def run(*args):
    return subprocess.run([server_binary(), *args], capture_output=True, text=True, timeout=30)


def test_embedded_defaults_answer_the_readme_example():
    s = Server()
    try:
        assert any("embedded default fixtures" in line for line in s.log)
        client = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
        r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
        assert r.choices[0].message.content == "Hello! How can I help you today?"
        r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather in Paris?"}])
        assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
    finally:
        s.stop()


def test_validate_reports_file_index_and_field_and_fails(tmp_path):
    (tmp_path / "good.yaml").write_text("fixtures: [{match: {userMessage: hi}, response: {content: Hello}}]\n")
    (tmp_path / "bad.json").write_text(
        '{"fixtures": [{"response": {"content": "ok"}},'
        ' {"response": {"toolCalls": [{"name": "f", "arguments": "{oops"}]}}]}'
    )
    r = run("validate", str(tmp_path))
    assert r.returncode == 1
    assert f"{tmp_path}/bad.json: fixtures[1].response.toolCalls[0].arguments: string is not valid JSON" in r.stderr
    (tmp_path / "bad.json").unlink()
    r = run("validate", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "OK: 1 fixture(s) in 1 file(s)" in r.stdout


def test_a_server_refuses_to_start_on_invalid_fixtures(tmp_path):
    (tmp_path / "f.yaml").write_text("fixtures: [{match: {userMesage: hi}, response: {content: x}}]\n")
    r = run("--fixtures", str(tmp_path), "--port", "0")
    assert r.returncode == 1
    assert "fixtures[0].match.userMesage" in r.stderr and "unknown field" in r.stderr


def test_help_documents_every_option_and_its_env_var():
    r = run("--help")
    assert r.returncode == 0
    for flag, env in [
        ("--fixtures", "MOCKMODEL_FIXTURES"),
        ("--host", "MOCKMODEL_HOST"),
        ("--port", "MOCKMODEL_PORT"),
        ("--strict", "MOCKMODEL_STRICT"),
        ("--watch", "MOCKMODEL_WATCH"),
        ("--log-format", "MOCKMODEL_LOG_FORMAT"),
        ("--max-body-bytes", "MOCKMODEL_MAX_BODY_BYTES"),
        ("--s3-endpoint", "MOCKMODEL_S3_ENDPOINT"),
    ]:
        assert flag in r.stdout and env in r.stdout, flag
    assert "validate" in r.stdout


def configmap_dir(root, generation, text):
    """Writes a kubelet-style projection: ..<ts>/fixtures.yaml, ..data -> ..<ts>, fixtures.yaml -> ..data/."""
    ts = root / f"..2026_11_22_00_00_0{generation}.000"
    ts.mkdir()
    (ts / "fixtures.yaml").write_text(text)
    tmp = root / "..data_tmp"
    os.symlink(ts.name, tmp)
    os.replace(tmp, root / "..data")  # atomic swap, as kubelet does
    if not (root / "fixtures.yaml").exists():
        os.symlink("..data/fixtures.yaml", root / "fixtures.yaml")


def wait_for_answer(client, want, timeout=10):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
        got = got.choices[0].message.content
        if got == want:
            return got
        time.sleep(0.1)
    return got


def test_hot_reload_of_a_mounted_configmap_keeps_the_last_good_set(tmp_path):
    configmap_dir(tmp_path, 1, "fixtures: [{match: {userMessage: hello}, response: {content: v1}}]\n")
    s = Server("--fixtures", str(tmp_path), "--watch")
    try:
        client = OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
        assert wait_for_answer(client, "v1") == "v1"
        configmap_dir(tmp_path, 2, "fixtures: [{match: {userMessage: hello}, response: {content: v2}}]\n")
        assert wait_for_answer(client, "v2") == "v2"
        configmap_dir(tmp_path, 3, "fixtures: [{match: {userMessage: hello}, response: {chunkSize: 0}}]\n")
        time.sleep(1.0)
        assert wait_for_answer(client, "v2", timeout=1) == "v2"
        metrics = s.get_text("/metrics")
        assert 'mockmodel_fixture_reloads_total{result="error"} 1' in metrics
        assert "mockmodel_fixtures_loaded 1" in metrics
    finally:
        s.stop()
