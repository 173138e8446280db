from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cpu_cache(tmp_path_factory) -> Path:
    """The CPU mode's cache folder with its model and data built (once per session).

    ``LEAD_CACHE`` from the environment is reused when set, so local reruns skip the build.
    """
    from lead.verl_plugin.cpu import assets

    folder = Path(os.environ.get(assets.CACHE_ENV) or tmp_path_factory.mktemp("lead-cache"))
    previous = os.environ.get(assets.CACHE_ENV)
    os.environ[assets.CACHE_ENV] = str(folder)
    assets.ensure_model()
    assets.ensure_data()
    yield folder
    if previous is None:
        os.environ.pop(assets.CACHE_ENV, None)
    else:
        os.environ[assets.CACHE_ENV] = previous


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """The tiny offline models of ``lead eval``'s tests (``scripted``, ``random``, and ``stopper``: the
    random one with many stop tokens) and their benchmark files (test_eval_harness, test_eval_server)."""
    from tests.test_eval_harness import tiny_models

    return tiny_models(tmp_path_factory.mktemp("tiny"))
