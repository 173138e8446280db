"""The launch scripts' environment: ``.env`` loading and the variables a run is built from.

Everything here is plain Python on strings (no verl, no Hydra), so a bad setting is refused in a
fraction of a second, before anything expensive starts.

Variables (from the caller, or from ``.env`` in the project root when present; the caller's
values win over the file's; relative paths are taken from the project root):

=====================  ==========================================================================
``DEVICE``             ``cuda`` (default: GPUs, vLLM) or ``cpu`` (verl's real loop on a CPU, scaled down)
``N_GPUS``             GPUs per node (default: the recipe's, or the count in CUDA_VISIBLE_DEVICES)
``NNODES``             nodes of the Ray cluster the run uses (default 1)
``RAY_ADDRESS``        join this running Ray cluster instead of starting one (``auto``, ``host:6379``)
``CUDA_VISIBLE_DEVICES``  passed on as is; N_GPUS must match its count when both are set
``BASE_MODEL``         Hugging Face id or local folder of the model to train (default: the recipe's)
``MODEL_TAG``          suffix of the run names (default: from BASE_MODEL)
``DATA_DIR``           folder with train.parquet and test.parquet (default data/math, as written by
                       ``lead data math --out data/math``)
``OUTPUT_ROOT``        runs go to OUTPUT_ROOT/<run name> (default checkpoints)
``BUDGET``             response cap in tokens: data.max_response_length, from which the rollout caps
                       and every method's cap knob (LEAD's bmax, ...) follow
``RUN_NAME``           name of a single-run script's run (default: the script's)
``WANDB_PROJECT``      trainer.project_name (default lead)
``KEEP_CHECKPOINTS``   trainer.max_actor_ckpt_to_keep (default: the recipe's; ``all`` keeps every one)
``DRY_RUN=1``          plan and check every run (a summary per run), start nothing
``PRINT_CONFIG=1``     with DRY_RUN, also print each run's full composed configuration
``VERBOSE=1``          show the trainer's whole output on the console, verl's printed configuration and
                       known harmless warnings included (train.log always has it all)
``PLAN_FILE``          append the planned runs to this file (JSON lines) and stop; check several
                       scripts' plans together with ``lead launch --check PLAN_FILE``
``ENV_FILE``           read this file instead of .env
``PYTHON``             interpreter with the project installed (the scripts default to .venv/bin/python)
=====================  ==========================================================================
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lead.verl_plugin.overrides import override_key, release_name_error

PAPER_TAGS = {
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": "deepseek-r1-1.5b",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": "deepseek-r1-7b",
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
DEVICES = ("cuda", "cpu")


class LaunchError(ValueError):
    """A setting the launcher refuses; the message names the variable and the bad value."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a dotenv file (``export`` prefix, quotes and ``#`` comments allowed).

    Raises ``LaunchError`` naming the line for anything else, so a typo never passes unnoticed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match is None:
            raise LaunchError(f"{path}:{number}: expected KEY=VALUE, found {raw!r}")
        key, value = match.groups()
        try:
            parts = shlex.split(value, comments=True)
        except ValueError as err:
            raise LaunchError(f"{path}:{number}: {err} in {raw!r}") from None
        values[key] = " ".join(parts)
    return values


def load_environment(environ: Mapping[str, str], root: Path) -> tuple[dict[str, str], Path | None]:
    """The caller's environment over ``ENV_FILE`` (default ``root/.env``); returns it and the file read."""
    named = environ.get("ENV_FILE")
    path = Path(named).expanduser() if named else root / ".env"
    if not path.is_file():
        if named:
            raise LaunchError(f"ENV_FILE={named} does not exist")
        return dict(environ), None
    return {**read_env_file(path), **environ}, path


def positive_int(env: Mapping[str, str], name: str, what: str, example: str) -> int | None:
    """``env[name]`` as a positive integer (None when unset or empty)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) == 0:
        raise LaunchError(f"{name}={raw!r} is not {what}: set {name} to a positive integer, e.g. {name}={example}")
    return int(raw)


def model_tag(model: str) -> str:
    """The run-name suffix of a model: the paper's short tags, else the folder or id's last part."""
    return PAPER_TAGS.get(model) or Path(model.rstrip("/")).name.lower()


def abspath(value: str, root: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


@dataclass
class LaunchEnv:
    """The launch variables after checking, and the Hydra overrides each one sets."""

    root: Path
    env: dict[str, str]
    env_file: Path | None
    device: str = "cuda"
    output_root: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    print_config: bool = False
    plan_file: str | None = None

    @property
    def cpu(self) -> bool:
        return self.device == "cpu"

    def model_tag(self, recipe_model: str) -> str:
        tag = self.env.get("MODEL_TAG") or model_tag(self.env.get("BASE_MODEL") or recipe_model)
        if not NAME_PATTERN.match(tag):
            raise LaunchError(f"MODEL_TAG={tag!r} may only hold letters, digits, '.', '_' and '-'")
        return tag

    def set(self, key: str, value: str, owner: str) -> None:
        self.overrides[key] = value
        self.owners[key] = owner


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "0").strip() not in ("", "0")


def read_launch_env(environ: Mapping[str, str], root: Path) -> LaunchEnv:
    """Check the launch variables of ``environ`` (after ``.env``) and derive their overrides."""
    env, env_file = load_environment(environ, root)
    device = env.get("DEVICE", "").strip().lower() or "cuda"
    if device not in DEVICES:
        raise LaunchError(f"DEVICE={env['DEVICE']!r} is not one of {', '.join(DEVICES)}")
    launch = LaunchEnv(
        root=root,
        env=env,
        env_file=env_file,
        device=device,
        dry_run=_flag(env, "DRY_RUN"),
        print_config=_flag(env, "PRINT_CONFIG"),
        plan_file=env.get("PLAN_FILE") or None,
    )

    budget = positive_int(env, "BUDGET", "a number of tokens", "4000")
    if budget is not None:
        launch.set("data.max_response_length", str(budget), "BUDGET")

    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    gpus = positive_int(env, "N_GPUS", "a positive integer", "4")
    if gpus is not None and visible and len(visible) != gpus:
        raise LaunchError(
            f"N_GPUS={gpus} but CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} lists "
            f"{len(visible)} GPU(s); make them agree"
        )
    gpus = gpus or (len(visible) if visible and not launch.cpu else None)
    nodes = positive_int(env, "NNODES", "a positive integer", "2")
    if launch.cpu and ((gpus or 1) > 1 or (nodes or 1) > 1 or env.get("RAY_ADDRESS")):
        raise LaunchError(
            "DEVICE=cpu runs one process on this machine: unset N_GPUS, NNODES and RAY_ADDRESS "
            f"(got N_GPUS={env.get('N_GPUS', '')!r}, NNODES={env.get('NNODES', '')!r}, "
            f"RAY_ADDRESS={env.get('RAY_ADDRESS', '')!r})"
        )
    if gpus is not None:
        launch.set("trainer.n_gpus_per_node", str(gpus), "N_GPUS")
    if nodes is not None:
        launch.set("trainer.nnodes", str(nodes), "NNODES")

    if env.get("BASE_MODEL"):
        launch.set("actor_rollout_ref.model.path", env["BASE_MODEL"], "BASE_MODEL")
    if env.get("DATA_DIR") or not launch.cpu:
        data = abspath(env.get("DATA_DIR") or "data/math", root)
        launch.set("data.train_files", f"{data}/train.parquet", "DATA_DIR")
        launch.set("data.val_files", f"{data}/test.parquet", "DATA_DIR")
    launch.output_root = abspath(env.get("OUTPUT_ROOT") or "checkpoints", root)
    if env.get("WANDB_PROJECT"):
        launch.set("trainer.project_name", env["WANDB_PROJECT"], "WANDB_PROJECT")
    keep = env.get("KEEP_CHECKPOINTS", "").strip()
    if keep:
        if keep != "all" and (not keep.isdigit() or int(keep) == 0):
            raise LaunchError(f"KEEP_CHECKPOINTS={keep!r} is not a positive integer or 'all'")
        launch.set("trainer.max_actor_ckpt_to_keep", "null" if keep == "all" else keep, "KEEP_CHECKPOINTS")
    return launch


OWNER_HINTS = {
    "BUDGET": "set BUDGET instead: it sets the response cap, the rollout caps and the method's cap together",
    "N_GPUS": "set N_GPUS (and CUDA_VISIBLE_DEVICES) instead",
    "NNODES": "set NNODES instead",
    "BASE_MODEL": "set BASE_MODEL (and MODEL_TAG) instead",
    "DATA_DIR": "set DATA_DIR instead",
    "RUN": "set OUTPUT_ROOT (and RUN_NAME for a single run) instead: the scripts name each run's folder",
}


def check_user_overrides(overrides: list[str], owned: Mapping[str, str]) -> None:
    """Refuse arguments that are not Hydra overrides, and overrides of keys the environment sets
    (``owned``: key -> the variable that sets it)."""
    for arg in overrides:
        if "=" not in arg and not arg.startswith("~"):
            raise LaunchError(f"argument {arg!r} is not a Hydra override: pass key=value, e.g. trainer.total_epochs=1")
        if "\n" in arg or "\t" in arg:
            raise LaunchError(f"override {arg!r} contains a tab or newline")
        release = release_name_error(arg)
        if release:
            raise LaunchError(release)
        key = override_key(arg)
        if key in owned:
            raise LaunchError(f"override {arg!r}: {key} is set by the script; {OWNER_HINTS[owned[key]]}")
