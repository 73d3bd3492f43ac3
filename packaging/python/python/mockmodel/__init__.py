"""mockmodel: a wire-exact mock of Bedrock Runtime, SageMaker Runtime and OpenAI-compatible model
endpoints for tests. ``Server`` runs the packaged ``mockmodel-server`` binary on a free loopback port::

    with mockmodel.Server(fixtures=[{"match": {"userMessage": "hello"}, "response": {"content": "Hi!"}}]) as mm:
        client = openai.OpenAI(**mm.openai_kwargs())

The pytest plugin (installed with the package) adds the ``mockmodel`` / ``mockmodel_session`` fixtures
and the ``@pytest.mark.mockmodel(fixtures=...)`` marker.
"""

from mockmodel._server import (
    STATIC_CREDENTIALS,
    TEST_ID_HEADER,
    MockModelError,
    Scope,
    Server,
    find_binary,
)

try:
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("mockmodel")
    except PackageNotFoundError:  # running from a source tree
        __version__ = "0+unknown"
except ImportError:  # pragma: no cover
    __version__ = "0+unknown"

__all__ = ["Server", "Scope", "MockModelError", "find_binary", "TEST_ID_HEADER", "STATIC_CREDENTIALS", "__version__"]
