"""Start and stop the packaged ``mockmodel-server`` executable from Python."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

__all__ = ["Server", "Scope", "MockModelError", "find_binary", "TEST_ID_HEADER", "STATIC_CREDENTIALS"]

TEST_ID_HEADER = "X-Test-Id"
BINARY = "mockmodel-server" + (".exe" if os.name == "nt" else "")
#: What every AWS client pointed at the mock should use: never real credentials, never IMDS.
STATIC_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

FixturesArg = Union[None, str, "os.PathLike[str]", Mapping[str, Any], Sequence[Any]]
_LISTENING = re.compile(r"listening on (http://\S+)")
_PR_SET_PDEATHSIG = 1


class MockModelError(RuntimeError):
    """The server could not be found, did not start, or an admin request failed."""


def find_binary() -> str:
    """The ``mockmodel-server`` executable: ``$MOCKMODEL_SERVER_BIN``, else the one this distribution
    installed (the wheel puts it in the environment's scripts directory), else ``PATH``."""
    env = os.environ.get("MOCKMODEL_SERVER_BIN")
    if env:
        return env
    candidates: List[Path] = []
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            dist = distribution("mockmodel")
            for f in dist.files or ():
                if f.name == BINARY:
                    candidates.append(Path(str(dist.locate_file(f))))
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover - Python < 3.8
        pass
    for scheme in (None, f"{os.name}_user"):
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if scripts:
            candidates.append(Path(scripts) / BINARY)
    candidates.append(Path(sys.executable).parent / BINARY)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c.resolve())
    found = shutil.which(BINARY)
    if found:
        return found
    raise MockModelError(
        f"{BINARY} not found: install the platform wheel (pip install mockmodel) or set MOCKMODEL_SERVER_BIN"
    )


def _flags(options: Mapping[str, Any]) -> List[str]:
    """``chunk_size=5`` -> ``--chunk-size 5``; ``strict=True`` -> ``--strict``; lists repeat the flag."""
    out: List[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


def _is_fixture_data(x: Any) -> bool:
    return isinstance(x, Mapping)


class _Endpoints:
    """URLs, environment and client helpers shared by :class:`Server` and :class:`Scope`."""

    url: str
    test_id: Optional[str] = None
    _filter_journal = True

    # --- where clients point -------------------------------------------------------------------
    @property
    def openai_base_url(self) -> str:
        """For the OpenAI SDKs (``base_url``) and ``OPENAI_BASE_URL``: ``<url>/v1``."""
        return self.url + "/v1"

    @property
    def bedrock_endpoint_url(self) -> str:
        """For boto3 / strands ``BedrockModel`` ``endpoint_url`` and ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``."""
        return self.url

    @property
    def sagemaker_endpoint_url(self) -> str:
        """For ``sagemaker-runtime`` clients and ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``."""
        return self.url

    @property
    def anthropic_base_url(self) -> str:
        """For the Anthropic SDKs (``base_url``) and ``ANTHROPIC_BASE_URL``."""
        return self.url

    def env(self) -> Dict[str, str]:
        """Environment variables that point unchanged SDK code at this server, with static test
        credentials (fake API keys and AWS keys, IMDS off) so nothing real is ever used."""
        return {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.bedrock_endpoint_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.sagemaker_endpoint_url,
            "OPENAI_BASE_URL": self.openai_base_url,
            "OPENAI_API_KEY": "test",
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "ANTHROPIC_API_KEY": "test",
            **STATIC_CREDENTIALS,
        }

    # --- X-Test-Id: per-test sequenceIndex state and journal ------------------------------------
    @property
    def headers(self) -> Dict[str, str]:
        """Headers to send with every request (``X-Test-Id`` when this handle has a test id)."""
        return {TEST_ID_HEADER: self.test_id} if self.test_id else {}

    def openai_kwargs(self, **extra: Any) -> Dict[str, Any]:
        """Keyword arguments for ``openai.OpenAI(...)`` / ``AsyncOpenAI``: base URL, fake key, headers."""
        return {"base_url": self.openai_base_url, "api_key": "test", "default_headers": self.headers, **extra}

    def instrument_boto3(self, target: Any) -> Any:
        """Adds the ``X-Test-Id`` header to every request of a boto3 client or session (register on a
        session before creating clients from it, e.g. the session given to strands' ``BedrockModel``)."""
        events = getattr(target, "events", None) or target.meta.events
        headers = self.headers

        def add_headers(request: Any, **_: Any) -> None:
            for k, v in headers.items():
                request.headers[k] = v

        if headers:
            events.register_first("before-sign.*.*", add_headers)
        return target

    def boto3_session(self, **kwargs: Any) -> Any:
        """A ``boto3.Session`` with static test credentials, ``us-east-1`` and the test id header."""
        import boto3

        kwargs.setdefault("aws_access_key_id", "test")
        kwargs.setdefault("aws_secret_access_key", "test")
        kwargs.setdefault("region_name", "us-east-1")
        return self.instrument_boto3(boto3.Session(**kwargs))

    def boto3_client(self, service_name: str = "bedrock-runtime", **kwargs: Any) -> Any:
        """A boto3 client for ``bedrock-runtime`` or ``sagemaker-runtime`` pointed at this server."""
        kwargs.setdefault("endpoint_url", self.url)
        return self.boto3_session().client(service_name, **kwargs)

    # --- admin routes --------------------------------------------------------------------------
    def _admin(self, method: str, path: str) -> bytes:
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.read()
        except (urllib.error.URLError, OSError) as e:
            raise MockModelError(f"{method} {self.url}{path} failed: {e}") from e

    def journal(self, *, unmatched: bool = False, all_tests: bool = False) -> List[Dict[str, Any]]:
        """Requests the server answered, oldest first (``GET /__mockmodel/journal``): each has
        ``protocol``, ``operation``, ``model``, ``stream``, ``userMessage``, ``testId``, ``fixture``
        (``file#index`` or None) and ``outcome``; a request forwarded to an upstream (``--record``,
        ``--proxy-unmatched``) also has ``upstream`` and, once written, ``recorded`` (the fixture
        file). A handle with a test id sees only its own requests
        unless ``all_tests``; ``unmatched`` keeps those no fixture answered."""
        entries = json.loads(self._admin("GET", "/__mockmodel/journal"))["entries"]
        if self.test_id and self._filter_journal and not all_tests:
            entries = [e for e in entries if e.get("testId") == self.test_id]
        if unmatched:
            entries = [e for e in entries if e.get("fixture") is None]
        return entries

    def fixtures(self) -> Dict[str, Any]:
        """What the server loaded (``GET /__mockmodel/fixtures``)."""
        return json.loads(self._admin("GET", "/__mockmodel/fixtures"))

    def reset(self) -> None:
        """Clears the journal and every ``sequenceIndex`` / fail-first counter (all test ids)."""
        self._admin("POST", "/__mockmodel/reset")


class Scope(_Endpoints):
    """A view of a running :class:`Server` for one test id (what the pytest fixtures return)."""

    def __init__(self, server: "Server", test_id: Optional[str], *, filter_journal: bool = True):
        self.server = server
        self.test_id = test_id
        self._filter_journal = filter_journal

    @property
    def url(self) -> str:  # type: ignore[override]
        return self.server.url

    def __repr__(self) -> str:
        return f"<mockmodel.Scope {self.url} test_id={self.test_id!r}>"


class Server(_Endpoints):
    """A ``mockmodel-server`` process on a free loopback port.

    ``fixtures``: None (the embedded defaults), a path, fixture data (``{"fixtures": [...]}``, one
    fixture ``{"match": ..., "response": ...}``, or a list of fixtures), or a list mixing paths and
    fixture dicts (order kept: first match wins). Data is written to a temporary JSON file.
    ``options`` become flags: ``strict=True`` -> ``--strict``, ``chunk_size=4`` -> ``--chunk-size 4``.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. The process never outlives
    this one: on Linux the kernel kills it when the starting thread's process dies
    (``PR_SET_PDEATHSIG``), even by SIGKILL; elsewhere (or when started off the main thread) a small
    watchdog process holding a pipe from this one stops it when the pipe closes.
    """

    def __init__(
        self,
        fixtures: FixturesArg = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        binary: Optional[str] = None,
        startup_timeout: float = 30.0,
        env: Optional[Mapping[str, str]] = None,
        args: Iterable[str] = (),
        test_id: Optional[str] = None,
        **options: Any,
    ):
        self._fixtures = fixtures
        self.host = host
        self.port = port
        self.binary = binary
        self.startup_timeout = startup_timeout
        self._env = dict(env or {})
        self._args = list(args) + _flags(options)
        self.test_id = test_id
        self.url = ""
        self.process: Optional[subprocess.Popen] = None
        #: The server's last log lines (stderr), for error messages.
        self.log: "collections.deque[str]" = collections.deque(maxlen=200)
        self._tmpdir: Optional[str] = None
        self._finalizer: Optional[weakref.finalize] = None

    # --- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def scoped(self, test_id: Optional[str], *, filter_journal: bool = True) -> Scope:
        """A handle that sends ``X-Test-Id: test_id`` to this server and (unless ``filter_journal``
        is false) sees only that test id's journal entries."""
        return Scope(self, test_id, filter_journal=filter_journal)

    def _fixture_args(self) -> List[str]:
        f = self._fixtures
        if f is None:
            return []
        if isinstance(f, (str, os.PathLike)):
            return ["--fixtures", os.fspath(f)]
        if isinstance(f, Mapping):
            items: List[Any] = [f]
        else:
            items = list(f)
        if items and all(_is_fixture_data(x) and "fixtures" not in x for x in items) and not any(
            isinstance(x, (str, os.PathLike)) for x in items
        ):
            items = [{"fixtures": items}]  # a plain list of fixtures
        args: List[str] = []
        pending: List[Any] = []

        def flush() -> None:
            if pending:
                if self._tmpdir is None:
                    self._tmpdir = tempfile.mkdtemp(prefix="mockmodel-")
                path = Path(self._tmpdir) / f"fixtures-{len(args) // 2:03d}.json"
                fixtures: List[Any] = []
                for p in pending:
                    fixtures += list(p["fixtures"]) if "fixtures" in p else [p]
                path.write_text(json.dumps({"fixtures": fixtures}))
                args.extend(["--fixtures", str(path)])
                pending.clear()

        for x in items:
            if isinstance(x, (str, os.PathLike)):
                flush()
                args.extend(["--fixtures", os.fspath(x)])
            elif _is_fixture_data(x):
                pending.append(x)
            else:
                raise TypeError(f"fixtures: expected a path or a dict, got {type(x).__name__}")
        flush()
        return args

    def start(self) -> "Server":
        if self.process is not None:
            return self
        binary = self.binary or find_binary()
        cmd = [binary, "--host", self.host, "--port", str(self.port), "--log-format", "text"]
        cmd += self._fixture_args() + self._args
        # The server reads MOCKMODEL_* variables too; only what this call says counts.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKMODEL_")}
        env.update({"RUST_LOG": "warn,mockmodel_server=info", "NO_COLOR": "1"})
        env.update(self._env)
        use_pdeathsig = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
        kwargs: Dict[str, Any] = {}
        if use_pdeathsig:
            kwargs["preexec_fn"] = _pdeathsig_preexec()
            kwargs["stdin"] = subprocess.DEVNULL
        else:
            # The watchdog reads its stdin (a pipe only this process holds) and stops the server at EOF.
            cmd = [sys.executable, "-m", "mockmodel._watchdog", *cmd]
            kwargs["stdin"] = subprocess.PIPE
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, **kwargs
        )
        self._finalizer = weakref.finalize(self, _kill, self.process, self._tmpdir)
        try:
            self.url = self._wait_for_url()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_url(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        found: "collections.deque[str]" = collections.deque()
        seen = threading.Event()
        stderr = self.process.stderr
        log = self.log

        def drain() -> None:  # keeps reading so a chatty server never blocks on a full pipe
            try:
                for raw in stderr:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    log.append(line)
                    if not seen.is_set():
                        m = _LISTENING.search(line)
                        if m:
                            found.append(m.group(1))
                            seen.set()
            except (OSError, ValueError):
                pass
            finally:
                seen.set()
                try:
                    stderr.close()  # EOF: the server (and the watchdog) exited
                except (OSError, ValueError):
                    pass

        threading.Thread(target=drain, name="mockmodel-log", daemon=True).start()
        if not seen.wait(self.startup_timeout) or not found:
            self.process.poll()
            raise MockModelError(
                f"mockmodel-server did not start (exit code {self.process.returncode}):\n" + "\n".join(self.log)
            )
        return found[0]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                raise MockModelError("mockmodel-server never became ready:\n" + "\n".join(self.log))
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; removes temporary fixture files."""
        proc, self.process = self.process, None
        if proc is not None:
            _terminate(proc, timeout)
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    def __repr__(self) -> str:
        return f"<mockmodel.Server {self.url or '(not started)'}>"


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin is not None:  # the log thread closes stderr when it reaches EOF
        try:
            proc.stdin.close()
        except OSError:
            pass


def _kill(proc: subprocess.Popen, tmpdir: Optional[str]) -> None:
    """Finalizer / atexit: a server the caller forgot to stop."""
    if proc.poll() is None:
        _terminate(proc, 2.0)
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _pdeathsig_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` that asks the kernel to SIGKILL the child when its parent dies.

    libc is loaded here, before the fork; the child only calls ``prctl`` (async-signal-safe) and then
    checks the parent is still the one that forked it (it may have died before ``prctl`` ran)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec

