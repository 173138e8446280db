"""The vLLM lane (``make test-vllm``): runs in the vLLM CPU environment (.venv-vllm) only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import cpu_cache  # noqa: F401 - the CPU mode's model and data, built once

if importlib.util.find_spec("vllm") is None:
    pytest.exit(
        "tests_vllm needs vLLM: build the vLLM CPU environment with `make vllm-env` and run `make test-vllm`",
        returncode=2,
    )


@pytest.fixture(autouse=True)
def no_leftover_shared_memory():
    """Each test removes the shared-memory segments and sockets its vLLM processes left behind."""
    from lead.launch.runner import leftover_files

    before = leftover_files()
    yield
    for path in leftover_files() - before:
        Path(path).unlink(missing_ok=True)
