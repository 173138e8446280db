"""Where the weights to evaluate come from: a Hugging Face id, a local model folder, or a verl checkpoint.

A verl checkpoint (``.../global_step_N`` or its ``actor`` folder) holds sharded FSDP (or
Megatron) state plus a ``huggingface/`` folder with the config and tokenizer. It is turned into
a plain Hugging Face folder by verl's own model merger,
``python -m verl.model_merger merge --backend fsdp --local_dir ACTOR --target_dir DIR``,
run once into a temporary folder that is renamed into place only when the merge succeeded,
and reused afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


class ModelError(ValueError):
    """The model argument cannot be resolved to weights."""


@dataclass(frozen=True)
class ResolvedModel:
    source: str
    """What the user passed."""
    path: str
    """What the backends load: a local folder or a hub id."""
    kind: str
    """``hub``, ``local`` or ``verl_fsdp`` / ``verl_megatron``."""


def verl_checkpoint_backend(actor: Path) -> str | None:
    """``fsdp`` or ``megatron`` when ``actor`` looks like a verl actor checkpoint, else None."""
    if (actor / "fsdp_config.json").is_file() or any(actor.glob("model_world_size_*_rank_*.pt")):
        return "fsdp"
    if (actor / "model" / "huggingface").is_dir() or (actor / "model" / "dist_ckpt").is_dir():
        return "megatron"
    return None


def merge_command(actor: Path, target: Path, backend: str = "fsdp", trust_remote_code: bool = False) -> list[str]:
    """The verl model-merger call that turns ``actor`` into a Hugging Face folder at ``target``."""
    if backend not in ("fsdp", "megatron"):
        raise ModelError(f"unknown verl checkpoint backend {backend!r}; expected fsdp or megatron")
    cmd = [
        sys.executable,
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        backend,
        "--local_dir",
        str(actor),
        "--target_dir",
        str(target),
    ]
    if trust_remote_code:
        cmd.append("--trust-remote-code")
    return cmd


def is_complete_hf_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any((path / f).is_file() for f in _WEIGHT_FILES)


def merge_verl_checkpoint(actor: Path, target: Path, backend: str, trust_remote_code: bool = False) -> Path:
    """Run verl's merger unless ``target`` already holds a complete merge; returns ``target``."""
    if is_complete_hf_folder(target):
        return target
    hf_dir = actor / ("model/huggingface" if backend == "megatron" else "huggingface")
    if not (hf_dir / "config.json").is_file():
        raise ModelError(
            f"verl checkpoint {actor} has no {hf_dir.relative_to(actor)}/config.json; verl's merger "
            "needs the Hugging Face config and tokenizer that verl saves there"
        )
    if target.exists() and any(target.iterdir()):
        raise ModelError(
            f"merge target {target} exists but is not a complete Hugging Face model; remove it or "
            "choose another --merged-dir"
        )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = merge_command(actor, partial, backend, trust_remote_code)
    print(f"merging verl checkpoint {actor} -> {target}", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise ModelError(f"verl model merger failed (exit {proc.returncode}) for {actor}:\n$ {' '.join(cmd)}\n{tail}")
    if not is_complete_hf_folder(partial):
        raise ModelError(f"verl model merger reported success but {partial} holds no complete model")
    if target.exists():
        target.rmdir()
    os.replace(partial, target)
    (target / "lead_merged_from.json").write_text(json.dumps({"checkpoint": str(actor.resolve()), "backend": backend}))
    return target


def resolve_model(model: str, merged_dir: str | None = None, trust_remote_code: bool = False) -> ResolvedModel:
    """Map ``--model`` to something a backend can load, merging a verl checkpoint when needed.

    A string that names no existing path is taken as a hub id only when it has the ``org/name``
    form and its first component is not an existing local folder; anything else is reported as a
    missing path.
    """
    path = Path(model).expanduser()
    if not path.exists():
        first = Path(model.split("/", 1)[0]).expanduser()
        if _HUB_ID.match(model) and not first.is_dir():
            return ResolvedModel(model, model, "hub")
        raise ModelError(f"model path does not exist: {model}")
    if not path.is_dir():
        raise ModelError(f"model path {model} is a file; expected a model folder, a verl checkpoint or a hub id")
    if (path / "config.json").is_file():
        return ResolvedModel(model, str(path), "local")
    actor = path / "actor" if (path / "actor").is_dir() else path
    backend = verl_checkpoint_backend(actor)
    if backend is None:
        raise ModelError(
            f"{model} is neither a Hugging Face model folder (no config.json) nor a verl checkpoint "
            "(no fsdp_config.json / model_world_size_*_rank_*.pt, no model/dist_ckpt)"
        )
    target = Path(merged_dir).expanduser() if merged_dir else actor / "merged_hf"
    merge_verl_checkpoint(actor, target, backend, trust_remote_code)
    return ResolvedModel(model, str(target), f"verl_{backend}")


def ensure_hub_model(model_id: str, timeout: float = 10.0) -> None:
    """Fail fast, with the fix, when a hub id can be neither read from the local Hugging Face
    cache nor downloaded (offline mode, no network, no such model); otherwise loading it would
    retry for about a minute and end in a long traceback."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
        return
    fix = (
        "pass a local model folder to --model (e.g. `hf download " + model_id + " --local-dir DIR` on a machine "
        "with network access, then copy DIR here), or run with network access to huggingface.co"
    )
    where = f"model {model_id!r} is not a local folder and not in the Hugging Face cache"
    if constants.HF_HUB_OFFLINE:
        raise ModelError(f"{where}, and HF_HUB_OFFLINE is set; {fix}")
    try:
        HfApi().model_info(model_id, timeout=timeout)
    except GatedRepoError:
        raise ModelError(
            f"model {model_id!r} is gated on the Hugging Face hub: accept its terms on its page and "
            "log in (`hf auth login`), or pass a local model folder to --model"
        ) from None
    except RepositoryNotFoundError:
        raise ModelError(
            f"no model {model_id!r} on the Hugging Face hub (check the name; a private model needs "
            "`hf auth login`), and no local folder of that name"
        ) from None
    except Exception as exc:  # noqa: BLE001 - httpx transport errors, HTTP 5xx, proxies: the hub is unusable
        raise ModelError(f"{where}, and the hub cannot be reached ({type(exc).__name__}: {exc}); {fix}") from None


def model_slug(model: str) -> str:
    """A short run name for a model argument: ``org/name`` -> ``name``; ``exp/global_step_40/actor`` ->
    ``exp-global_step_40``."""
    parts = [p for p in Path(model).expanduser().parts if p not in ("/", ".", "..")]
    if parts and parts[-1] == "actor":
        parts = parts[:-1]
    if parts and parts[-1].startswith("global_step_") and len(parts) > 1:
        return f"{parts[-2]}-{parts[-1]}"
    return parts[-1] if parts else "model"
