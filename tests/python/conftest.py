"""Starts the built mockmodel-server binary once per test module, on a free port, with the shared
end-to-end fixtures; tests then drive it with the real client libraries."""
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def server_binary() -> str:
    return os.environ.get("MOCKMODEL_SERVER_BIN", str(ROOT / "target" / "debug" / "mockmodel-server"))


def self_signed_cert(directory: Path, cn: str = "127.0.0.1") -> tuple[str, str]:
    """A self-signed certificate and key (PEM, openssl CLI) for 127.0.0.1 and localhost, for the
    server's --tls-cert/--tls-key; the certificate is also the clients' CA bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


class Server:
    """`url` is the first URL the server announces (plain HTTP, or HTTPS with --tls-cert alone);
    `tls_url` the HTTPS one when it serves TLS; `cafile` verifies it for `get_text`/`get_json`."""

    def __init__(self, *args: str, env: dict | None = None, cafile: str | None = None):
        self.cafile = cafile
        self.proc = subprocess.Popen(
            [server_binary(), "--port", "0", "--log-format", "text", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1", **(env or {})},
        )
        deadline = time.time() + 20
        self.url = None
        self.tls_url = None
        self.log = []
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on (https?://[0-9.]+:\d+)", line)
            if m:
                self.url = m.group(1)
                tls = re.search(r"(https://[0-9.]+:\d+)", line)
                self.tls_url = tls and tls.group(1)
                break
        if self.url is None:
            self.proc.kill()
            raise RuntimeError("mockmodel-server did not start:\n" + "".join(self.log))
        # Keep draining stderr so a chatty server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def _open(self, req):
        import ssl

        ctx = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        return urllib.request.urlopen(req, timeout=10, context=ctx)

    def get_text(self, path: str) -> str:
        with self._open(self.url + path) as r:
            return r.read().decode()

    def get_json(self, path: str):
        import json

        with self._open(self.url + path) as r:
            return json.loads(r.read())

    def reset(self):
        req = urllib.request.Request(self.url + "/__mockmodel/reset", method="POST")
        self._open(req).close()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def aws_client(service: str, url: str):
    """A boto3 client for `service` on the local server: static keys (nothing leaves the machine) and
    one attempt in total, so a 429/503 surfaces as the error instead of being retried away."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def run_node(script: str, url: str, *args: str, env: dict | None = None) -> dict:
    """Runs one of tests/js/*.cjs (the JavaScript SDKs, installed by scripts/node-deps.sh) against the
    server and returns the JSON it printed of what the SDK parsed (`env`: e.g. NODE_EXTRA_CA_CERTS
    for an https:// server)."""
    import json

    node_modules = subprocess.run(
        [str(ROOT / "scripts" / "node-deps.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    run = subprocess.run(
        ["node", str(ROOT / "tests" / "js" / script), url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": node_modules, **(env or {})},
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def server():
    s = Server("--fixtures", str(FIXTURES))
    yield s
    s.stop()


@pytest.fixture
def no_ambient_aws(monkeypatch):
    """Static credentials only: nothing from the environment (a Bedrock API key, a profile, a session
    token) and nothing from 169.254.169.254."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)


# Static keys for every AWS client that talks to the S3 server below, the mock server's own S3 client
# included; with the metadata service disabled nothing ever asks 169.254.169.254.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def s3_server():
    """A real S3-compatible server (moto's standalone server) on a free loopback port; yields its URL."""
    from moto.server import ThreadedMotoServer

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    yield f"http://{host}:{port}"
    s3.stop()


@pytest.fixture(scope="module")
def async_server(s3_server):
    """mockmodel-server with the shared fixtures and the S3 server as its object store."""
    s = Server("--fixtures", str(FIXTURES), "--s3-endpoint", s3_server, env=S3_ENV)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _fresh_sequences(request):
    # sequenceIndex counters and the journal are per server; reset them so tests are independent.
    if "server" in request.fixturenames:
        request.getfixturevalue("server").reset()
