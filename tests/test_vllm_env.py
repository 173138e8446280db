"""The vLLM CPU environment's install helpers (scripts/vllm_cpu_env.py), on a wheel built here."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("vllm_cpu_env", ROOT / "scripts" / "vllm_cpu_env.py")
vllm_cpu_env = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vllm_cpu_env)

METADATA = """Metadata-Version: 2.1
Name: vllm-cpu
Version: 0.24.0
Requires-Dist: regex
Requires-Dist: transformers>=5.5.3
Requires-Dist: torch==2.11.0+cpu; platform_machine == "x86_64" or platform_machine == "aarch64"
Requires-Dist: torch==2.11.0; platform_system == "Darwin"
Requires-Dist: torchvision; platform_machine != "s390x"
Provides-Extra: bench
Requires-Dist: pandas; extra == "bench"
Requires-Dist: intel-openmp==2024.2.1; platform_machine == "x86_64"
"""


def test_requirements_keep_the_wheels_own_except_torch_and_extras(tmp_path):
    wheel = tmp_path / "vllm_cpu-0.24.0-cp38-abi3-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("vllm/__init__.py", "")
        zf.writestr("vllm_cpu-0.24.0.dist-info/METADATA", METADATA)
    assert vllm_cpu_env.wheel_requirements(str(wheel)) == [
        "regex",
        "transformers>=5.5.3",
        'torchvision; platform_machine != "s390x"',
        'intel-openmp==2024.2.1; platform_machine == "x86_64"',
    ]


def test_shim_makes_the_distribution_vllm_visible_with_the_cpu_version(tmp_path):
    dist_info = vllm_cpu_env.write_shim(str(tmp_path), "0.24.0+cpu")
    (dist,) = importlib.metadata.distributions(path=[str(tmp_path)])
    assert dist.metadata["Name"] == "vllm" and dist.version == "0.24.0+cpu"
    # pip can uninstall it: every file it wrote is in its RECORD.
    recorded = {line.split(",")[0] for line in (dist_info / "RECORD").read_text().splitlines()}
    assert recorded == {f"{dist_info.name}/{p.name}" for p in dist_info.iterdir()}
