"""Install check: the GPU install (`pip install ".[gpu]"`) still resolves, and verl and vLLM agree.

The `install`-marked test runs pip's dry run with a report: it resolves the whole GPU dependency tree
against PyPI from metadata alone. `--use-feature=fast-deps` makes pip read each wheel's METADATA with
HTTP range requests where the index serves no separate metadata file, so none of the multi-GB CUDA
wheels (torch, nvidia-*, vllm) is downloaded. A report is reused for a day while pyproject.toml, the
Python and pip stay the same. It needs PyPI: without it the test fails, unless LEAD_OFFLINE=1 says
the machine is offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = Path(os.environ.get("LEAD_INSTALL_CACHE", Path.home() / ".cache" / "lead-reasoning" / "gpu-resolve"))
CACHE_MAX_AGE_S = 24 * 3600
RESOLVE_TIMEOUT_S = 900
REQUIRERS = ("verl", "vllm")
SHARED = ("torch", "transformers")


def active_extras(report: dict) -> dict[str, set[str]]:
    """Extras in force for each resolved package: the ones asked for on the command line, and every
    ``pkg[extra]`` that a resolved requirement names under a marker that holds (to a fixed point)."""
    items = {canonicalize_name(i["metadata"]["name"]): i for i in report["install"]}
    extras = {name: set(i.get("requested_extras") or ()) for name, i in items.items()}
    changed = True
    while changed:
        changed = False
        for name, item in items.items():
            for req in requirements_in_force(item, extras[name]):
                target = canonicalize_name(req.name)
                if target in extras and not req.extras <= extras[target]:
                    extras[target] |= req.extras
                    changed = True
    return extras


def requirements_in_force(item: dict, extras: set[str]) -> list[Requirement]:
    env = default_environment()
    reqs = []
    for text in item["metadata"].get("requires_dist") or ():
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in extras | {""}):
            reqs.append(req)
    return reqs


def agreement_problems(report: dict, requirers=REQUIRERS, shared=SHARED) -> list[str]:
    """For each package in ``shared``: what each requirer asks of it and what was resolved; a line
    per requirement the resolved version breaks, or per requirer or package missing from the report."""
    items = {canonicalize_name(i["metadata"]["name"]): i for i in report["install"]}
    extras = active_extras(report)
    problems = [f"{name} is not in the resolved set" for name in (*requirers, *shared) if name not in items]
    for package in shared:
        if package not in items:
            continue
        version = Version(items[package]["metadata"]["version"])
        for requirer in (r for r in requirers if r in items):
            specs = [
                req
                for req in requirements_in_force(items[requirer], extras[requirer])
                if canonicalize_name(req.name) == package
            ]
            if not specs:
                problems.append(f"{requirer} does not constrain {package} (expected a pin)")
            problems += [
                f"{package} {version} breaks {requirer}'s requirement {req}"
                for req in specs
                if not req.specifier.contains(version, prereleases=True)
            ]
    return problems


def conflict_text(output: str) -> str:
    """pip's own explanation of a failed resolve: from its first ERROR line on (else its last lines)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ERROR:")), max(0, len(lines) - 40))
    return "\n".join(lines[start:])


def resolve_key(project: Path) -> str:
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=True)
    h = hashlib.sha256((project / "pyproject.toml").read_bytes())
    h.update(f"{sys.version}|{platform.machine()}|{pip.stdout.split()[1]}".encode())
    return h.hexdigest()[:16]


def resolve_report(project: Path, extra: str, cache_dir: Path | None) -> dict:
    """pip's dry-run report for ``project[extra]`` (reused from ``cache_dir`` while fresh); fails the
    test with pip's conflict text when it does not resolve."""
    cached = cache_dir / f"{resolve_key(project)}.json" if cache_dir else None
    if cached and cached.exists() and time.time() - cached.stat().st_mtime < CACHE_MAX_AGE_S:
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        # Not --quiet: pip prints "The conflict is caused by:" at info level.
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--use-feature=fast-deps",
            "--report",
            str(report),
            f".[{extra}]",
        ]
        try:
            done = subprocess.run(
                cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=RESOLVE_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"`pip {' '.join(cmd[3:])}` did not finish in {RESOLVE_TIMEOUT_S} s (PyPI slow or "
                f"unreachable? LEAD_OFFLINE=1 skips this check on an offline machine)\n"
                f"{conflict_text(exc.output or '')}",
                pytrace=False,
            )
        if done.returncode != 0:
            pytest.fail(
                f"the {extra} install does not resolve (`pip {' '.join(cmd[3:])}` exited "
                f"{done.returncode}):\n{conflict_text(done.stdout)}",
                pytrace=False,
            )
        result = json.loads(report.read_text())
    if cached:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(result))
    return result


@pytest.fixture(scope="module")
def online() -> None:
    if os.environ.get("LEAD_OFFLINE", "0") not in ("", "0"):
        pytest.skip("LEAD_OFFLINE is set: the GPU install check needs PyPI")


@pytest.fixture(scope="module")
def gpu_report(online) -> dict:
    return resolve_report(ROOT, "gpu", CACHE_DIR)


@pytest.mark.install
def test_gpu_extra_resolves_with_verl_and_vllm_agreeing_on_torch_and_transformers(gpu_report):
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in gpu_report["install"]}
    assert agreement_problems(gpu_report) == []
    assert resolved["verl"] == "0.9.1" and resolved["vllm"] == "0.24.0"
    assert Version(resolved["torch"]).release == (2, 11, 0)
    # flash-attn is a separate step (docs/install.md, "CUDA node"): PyPI only has it as a source archive.
    assert "flash-attn" not in resolved


@pytest.mark.install
def test_a_transformers_pin_against_verls_fails_with_pips_conflict_text(online, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "clash"\nversion = "0"\n'
        '[project.optional-dependencies]\ngpu = ["verl[vllm]==0.9.1", "transformers==5.10.4"]\n'
    )
    with pytest.raises(pytest.fail.Exception) as info:
        resolve_report(tmp_path, "gpu", None)
    assert "The conflict is caused by:" in str(info.value)
    assert "verl[vllm] 0.9.1 depends on transformers==5.9.0" in str(info.value)


def fake_report(vllm_torch: str) -> dict:
    def item(name, version, requires, extras=None):
        entry = {"metadata": {"name": name, "version": version, "requires_dist": requires}}
        if extras:
            entry["requested_extras"] = extras
        return entry

    return {
        "install": [
            item("lead-reasoning", "0.1.0", ['verl[vllm]==0.9.1; extra == "gpu"'], ["gpu"]),
            item(
                "verl",
                "0.9.1",
                [
                    "transformers>=5.5.3,<5.11",
                    'torch==2.11.0; extra == "vllm"',
                    'transformers==5.9.0; extra == "vllm"',
                    'torch==2.10.0; extra == "cpu"',
                ],
            ),
            item("vllm", "0.24.0", [f"torch{vllm_torch}", "transformers>=5.5.3"]),
            item("torch", "2.11.0", []),
            item("transformers", "5.9.0", []),
        ]
    }


def test_agreement_follows_extras_and_names_the_broken_requirement():
    assert agreement_problems(fake_report("==2.11.0")) == []
    assert agreement_problems(fake_report("==2.12.0")) == ["torch 2.11.0 breaks vllm's requirement torch==2.12.0"]
    no_vllm = {"install": [i for i in fake_report("==2.11.0")["install"] if i["metadata"]["name"] != "vllm"]}
    assert agreement_problems(no_vllm) == ["vllm is not in the resolved set"]


def test_conflict_text_starts_at_pips_error():
    out = "Collecting verl\nCollecting vllm\nERROR: Cannot install verl and vllm\nThe conflict is caused by:\n  x"
    assert conflict_text(out) == "ERROR: Cannot install verl and vllm\nThe conflict is caused by:\n  x"


def test_cuda12_builds_satisfy_verls_exact_pins():
    """The route of docs/install.md for CUDA 12 drivers: PyTorch's cu128 builds of torch 2.11.0 and vLLM's cu129
    build of 0.24.0 carry local versions, which verl 0.9.1's ``==`` pins of its [vllm] extra accept
    (PEP 440: a pin without a local label matches every local version of that release)."""
    from importlib.metadata import requires

    pins = {}
    for text in requires("verl"):
        req = Requirement(text)
        if req.marker is not None and req.marker.evaluate({"extra": "vllm"}) and not req.extras:
            pins[canonicalize_name(req.name)] = req.specifier
    local = {
        "torch": "2.11.0+cu128",
        "torchvision": "0.26.0+cu128",
        "torchaudio": "2.11.0+cu128",
        "vllm": "0.24.0+cu129",
    }
    for name, version in local.items():
        assert pins[name].contains(Version(version)), (name, str(pins[name]), version)
    assert not pins["torch"].contains(Version("2.10.0+cu128"))
