"""pytest plugin (entry point ``pytest11``), active once ``mockmodel`` is installed.

Fixtures:

- ``mockmodel`` (function scope): a handle for this test. With ``@pytest.mark.mockmodel(fixtures=...,
  **options)`` on the test (or its class/module) the test gets a server of its own with those
  fixtures; otherwise it shares the worker's ``mockmodel_session`` server. Either way the handle's
  ``headers`` carry ``X-Test-Id: <node id>`` so ``sequenceIndex`` counters and the journal are per test.
- ``mockmodel_session`` (session scope): one server per test process (per pytest-xdist worker), with
  ``--mockmodel-fixtures PATH`` / the ``mockmodel_fixtures`` ini paths, else the embedded defaults.
- ``mockmodel_env``: ``mockmodel`` plus its ``env()`` applied with ``monkeypatch`` (unchanged SDK code
  then reaches the mock through ``AWS_ENDPOINT_URL_*`` / ``OPENAI_BASE_URL`` with fake credentials).

When a test using them fails, its report gains a "mockmodel journal" section listing the requests no
fixture matched, and the fixtures that were loaded.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional

import pytest

from mockmodel._server import Scope, Server

_HANDLE = pytest.StashKey[Scope]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockmodel", "mockmodel mock model server")
    group.addoption(
        "--mockmodel-fixtures",
        action="append",
        default=None,
        metavar="PATH",
        help="fixture file or directory for the mockmodel_session server (repeatable)",
    )
    parser.addini(
        "mockmodel_fixtures",
        type="paths",
        default=[],
        help="fixture files or directories for the mockmodel_session server (relative to the ini file)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mockmodel(fixtures=None, **options): give the test its own mockmodel server with these fixtures "
        "(paths or dicts) and server options (strict=True, chunk_size=4, latency_ms=..., ...)",
    )


@pytest.fixture(scope="session")
def mockmodel_session(pytestconfig: pytest.Config) -> Iterator[Server]:
    """One mockmodel server for the whole session (under pytest-xdist: per worker)."""
    paths: List[str] = pytestconfig.getoption("mockmodel_fixtures") or [
        str(p) for p in pytestconfig.getini("mockmodel_fixtures")
    ]
    with Server(fixtures=paths or None) as server:
        yield server


@pytest.fixture
def mockmodel(request: pytest.FixtureRequest) -> Iterator[Scope]:
    """This test's mock server handle (its own server when the test has a ``mockmodel`` marker)."""
    test_id = request.node.nodeid
    marker = request.node.get_closest_marker("mockmodel")
    if marker is None:
        session: Server = request.getfixturevalue("mockmodel_session")
        handle = session.scoped(test_id)
        request.node.stash[_HANDLE] = handle
        yield handle
        return
    kwargs: Dict[str, Any] = dict(marker.kwargs)
    if marker.args:
        kwargs.setdefault("fixtures", marker.args[0])
    with Server(**kwargs) as server:
        handle = server.scoped(test_id, filter_journal=False)
        request.node.stash[_HANDLE] = handle
        yield handle


@pytest.fixture
def mockmodel_env(mockmodel: Scope, monkeypatch: pytest.MonkeyPatch) -> Scope:
    """``mockmodel`` with its ``env()`` set for the test (restored afterwards)."""
    for key, value in mockmodel.env().items():
        monkeypatch.setenv(key, value)
    return mockmodel


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    handle: Optional[Scope] = item.stash.get(_HANDLE, None)
    if handle is None:
        return
    try:
        text = journal_report(handle)
    except Exception as e:  # the server may be gone; never hide the test's own failure
        text = f"(journal unavailable: {e})"
    report.sections.append(("mockmodel journal", text))


def _describe(e: Dict[str, Any]) -> str:
    parts = [f"{e.get('protocol')} {e.get('operation')}", f"model={e.get('model')!r}"]
    if e.get("stream"):
        parts.append("stream")
    parts.append(f"userMessage={e.get('userMessage')!r}")
    return " ".join(parts)


def journal_report(handle: Scope, max_fixtures: int = 20) -> str:
    """The text of the failure report section: unmatched requests first, then what did match."""
    entries = handle.journal()
    unmatched = [e for e in entries if e.get("fixture") is None]
    lines = [f"server {handle.url}, X-Test-Id {handle.test_id!r}: {len(entries)} request(s), {len(unmatched)} unmatched"]
    if not entries:
        lines.append(
            "no request from this test reached the mock: is the client pointed at it, and does it send"
            " mockmodel.headers (X-Test-Id)?"
        )
    for e in unmatched:
        lines.append(f"  UNMATCHED {_describe(e)} -> {e.get('outcome')}")
    for e in entries:
        if e.get("fixture") is not None:
            lines.append(f"  matched   {_describe(e)} -> {e.get('fixture')} ({e.get('outcome')})")
    if unmatched:
        loaded = handle.fixtures()
        fixtures = loaded.get("fixtures", [])
        lines.append(f"loaded fixtures ({len(fixtures)}):")
        for f in fixtures[:max_fixtures]:
            match = json.dumps(f.get("match"), separators=(",", ":"))
            lines.append(f"  {f.get('file')}#{f.get('index')} match={match}")
        if len(fixtures) > max_fixtures:
            lines.append(f"  ... {len(fixtures) - max_fixtures} more")
    return "\n".join(lines)
