"""The built wheel carries what an installed (non-editable) package reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_holds_every_config_file_and_the_entry_points(tmp_path):
    # Built from a copy: setuptools reuses a checkout's build/ folder, whose files from an earlier
    # build would hide a package-data pattern that misses them.
    source = tmp_path / "source"
    shutil.copytree(REPO / "lead", source / "lead", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("lead_reasoning-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "lead").rglob("*.yaml"))
    assert {Path(c).parent.name for c in configs} >= {"config", "attention", "device", "experiment"}, configs
    assert [c for c in configs if c not in names] == []
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[verl.plugins]\nlead = lead.verl_plugin.plugin" in text
    assert "lead-train = lead.verl_plugin.main:main" in text
