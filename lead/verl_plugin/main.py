"""``lead-train``: verl's ``main_ppo`` with the project's Hydra config (``lead_trainer.yaml``).

``lead-train <hydra overrides>`` composes the config (Hydra), makes one validation pass
(:func:`check_config`: the estimator's knobs, then verl's ``validate_config``) and starts verl's
training (Ray, ``TaskRunnerV1``). With ``DRY_RUN=1`` in the environment it stops after validation,
prints the resolved configuration and exits: a CPU machine can check a GPU run's config.

``lead-train --config <run>/lead_config.yaml`` trains a configuration recorded by ``lead launch``
as it is: the launcher composed and checked it in its own process (``LEAD_ATTENTION`` already
applied) and resolved it, so this process composes nothing and checks nothing again; what was
checked and recorded is what trains. No other argument is taken (a change is a new launch). Hydra's
files go to ``<run>/hydra``. ``DRY_RUN=1`` checks the recorded configuration once and prints it.

``DEVICE=cpu lead-train ...`` (or ``lead-train device=cpu ...``) runs verl's real loop on the
CPU: it selects the ``device=cpu`` config group (``config/device/cpu.yaml``; command-line
overrides still win), sets ``VERL_PLATFORM=cpu`` for every process of the run, and, unless ``BASE_MODEL`` /
``actor_rollout_ref.model.path`` and ``DATA_DIR`` / ``data.train_files`` / ``data.val_files``
name them, trains the tiny offline model on generated problems (:mod:`lead.verl_plugin.cpu.assets`).
A recorded CPU run (``trainer.device: cpu``) selects CPU mode the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from lead.verl_plugin.cpu import DEVICE_ENV, cpu_mode, select_from_env
from lead.verl_plugin.overrides import check_release_names, explain_override_error
from lead.verl_plugin.preflight import FlashAttentionMissing, cuda_available, prepare_attention, runtime_problems

CPU_GROUP = "device=cpu"
MODEL_KEY = "actor_rollout_ref.model.path"
DATA_KEYS = {"data.train_files": "train.parquet", "data.val_files": "test.parquet"}


def check_config(config: DictConfig) -> None:
    """Every check a run does before starting Ray: ours (with a warning for each length knob
    that no response can reach, :func:`unreachable_length_knobs`), then verl's ``validate_config``."""
    import warnings

    import lead.verl_plugin.plugin  # noqa: F401 - registers the estimators even when verl skips plugins

    # isort: split
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from lead.verl_plugin.algo_config import validate_run_config

    validate_run_config(config)
    for message in unreachable_length_knobs(config):
        warnings.warn(message, stacklevel=2)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))


def _rewards_length(method_cls: type, knobs: object, cap: float) -> bool:
    """Whether the method, with ``knobs``, gives rollouts of one prompt and one correctness
    different advantages for different lengths within ``cap`` (probed on a small batch: a group of
    correct rollouts and a mixed group, lengths spread up to the cap)."""
    import torch

    from lead.core.rollouts import RolloutBatch

    n = 8
    lengths = torch.linspace(cap / n, cap, n, dtype=torch.float64).repeat(2)
    correct = torch.cat([torch.ones(n), torch.arange(n) % 2]).to(torch.float64)
    threshold = knobs.correct_threshold
    scores = torch.where(correct > 0, max(1.0, threshold + 1), min(0.0, threshold))
    ids = [f"probe-{i // n}" for i in range(2 * n)]
    adv, _ = method_cls(knobs).advantages(RolloutBatch(scores, lengths, ids, list(ids)))
    for group in (slice(0, n), slice(n, 2 * n)):
        for value in (0.0, 1.0):
            same = adv[group][correct[group] == value]
            if same.numel() > 1 and float(same.max() - same.min()) > 1e-9:
                return True
    return False


def unreachable_length_knobs(config: DictConfig) -> list[str]:
    """One line for each token knob of the run's method (its config class's ``token_knobs``, the
    cap aside) at or above the response cap that leaves the method rewarding no response for
    being shorter, where a value below the cap would (LASER's ``target_length`` 4096 at a 4,000-token
    cap: every correct answer gets the bonus)."""
    from lead.core.methods import get_method
    from lead.verl_plugin.estimators import is_lead_estimator, method_block

    name = config.algorithm.adv_estimator
    cap = OmegaConf.select(config, "data.max_response_length")
    if not is_lead_estimator(name) or cap is None:
        return []
    method_cls = get_method(name)
    config_cls = method_cls.config_cls
    block = method_block(config.algorithm, name)
    knobs = config_cls.from_mapping(block)
    lines = []
    for knob in config_cls.token_knobs:
        value = getattr(knobs, knob)
        if knob == config_cls.cap_knob or value < cap or _rewards_length(method_cls, knobs, cap):
            continue
        try:
            below = config_cls.from_mapping({**block, knob: cap / 2})
        except ValueError:
            continue
        if _rewards_length(method_cls, below, cap):
            lines.append(
                f"algorithm.{name}.{knob}={value:g} is not below the response cap data.max_response_length="
                f"{cap}: every response is within it, so {name} rewards no response for being shorter (its "
                f"advantage is correctness alone); set algorithm.{name}.{knob} below {cap}, or raise the cap "
                f"(BUDGET in the launch scripts)"
            )
    return lines


def override_key(arg: str) -> str | None:
    """The config key a command-line argument overrides (``+a.b=1``, ``~a.b`` -> ``a.b``); None for flags."""
    if arg.startswith("-") or ("=" not in arg and not arg.startswith("~")):
        return None
    return arg.split("=", 1)[0].lstrip("~+")


def cpu_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """The command line of a CPU run and notes on what was added.

    Adds ``device=cpu`` unless a device group is chosen, the tiny model unless ``BASE_MODEL`` or
    a model path is given, and the generated data for each data file not given (``DATA_DIR``
    given means the caller sets both)."""
    from lead.verl_plugin.cpu import assets

    keys = {override_key(a) for a in args} - {None}
    added, notes = [], []
    if "device" not in keys:
        added.append(CPU_GROUP)
    if MODEL_KEY not in keys and not os.environ.get("BASE_MODEL"):
        path = assets.ensure_model()
        added.append(f"{MODEL_KEY}={path}")
        notes.append(f"model: the tiny offline model in {path} (set BASE_MODEL or {MODEL_KEY} to train another)")
    missing = [k for k in DATA_KEYS if k not in keys]
    if missing and not os.environ.get("DATA_DIR"):
        folder = assets.ensure_data()
        added += [f"{k}={folder / DATA_KEYS[k]}" for k in missing]
        notes.append(f"data: generated one-digit problems in {folder} for {', '.join(missing)}")
    return added + args, notes


def _leaves(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def cpu_settings_report(config: DictConfig, user_keys: set[str]) -> str:
    """What the CPU group set (its file and the method knobs scaled to its response cap), one
    ``key = value`` line each; keys the user overrode are listed apart."""
    from lead.verl_plugin.algo_config import CPU_GROUP_FILE, cpu_method_knobs

    group = OmegaConf.to_container(OmegaConf.load(CPU_GROUP_FILE), resolve=False)
    group.pop("defaults")
    group["algorithm"] = cpu_method_knobs()
    scaled, kept = [], []
    for key in _leaves(group):
        value = OmegaConf.select(config, key)
        line = f"  {key} = {OmegaConf.to_container(value) if OmegaConf.is_config(value) else value}"
        (kept if any(key == k or key.startswith(k + ".") for k in user_keys) else scaled).append(line)
    out = ["CPU mode (DEVICE=cpu): verl's real loop on the CPU backend; settings of device/cpu.yaml:", *scaled]
    if kept:
        out += ["kept from your overrides:", *kept]
    return "\n".join(out)


def run_trainer(config: DictConfig) -> None:
    """verl's ``main_ppo`` after its validation, which ran once already (:func:`check_config` in this
    process, or in the launcher's for a recorded configuration): Ray and the task runner."""
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo

    if config.trainer.use_v1:
        run_ppo(config, task_runner_class=TaskRunnerV1)
    else:
        from verl.trainer.main_ppo_v0 import TaskRunner

        run_ppo(config, task_runner_class=TaskRunner)


def _dry(config: DictConfig, what: str) -> None:
    print(OmegaConf.to_yaml(config, resolve=True))
    print(f"DRY_RUN: {what} is valid; not starting Ray.")


def dry_run() -> bool:
    return os.environ.get("DRY_RUN", "0") not in ("", "0")


# Whether Hydra composed the configuration and handed it over: a failure before that is Hydra's
# refusal of the command line.
_composed = False


@hydra.main(config_path="config", config_name="lead_trainer", version_base=None)
def _train(config: DictConfig) -> None:
    global _composed
    _composed = True
    if cpu_mode():
        from hydra.core.hydra_config import HydraConfig

        user = {override_key(o) for o in HydraConfig.get().overrides.task} - {None, "device"}
        print(cpu_settings_report(config, user), flush=True)
    dry = dry_run()
    try:
        # A dry run on a machine without a GPU checks a GPU run's config, not its flash-attn.
        prepare_attention(config, check_import=not dry or cuda_available())
    except FlashAttentionMissing as exc:
        sys.exit(f"lead-train: error: {exc}")
    if not dry and (problems := runtime_problems(config)):
        sys.exit("lead-train: error: " + "\nlead-train: error: ".join(problems))
    if not dry:
        from verl.utils.device import auto_set_device

        # As verl's main: an Ascend NPU's device name before validating; a no-op on a GPU or the CPU backend.
        auto_set_device(config)
    check_config(config)
    if dry:
        _dry(config, "configuration")
        return
    run_trainer(config)


@hydra.main(config_path=None, config_name=None, version_base=None)
def _train_recorded(config: DictConfig) -> None:
    if dry_run():
        check_config(config)
        _dry(config, "recorded configuration")
        return
    run_trainer(config)


RECORD_FLAG = "--config"


def recorded_config(args: list[str]) -> Path | None:
    """The file of ``lead-train --config FILE`` (or ``--config=FILE``); None without the flag.
    Exits 2 when the file is not a recorded configuration or other arguments come with it."""
    spelled = [a for a in args if a == RECORD_FLAG or a.startswith(RECORD_FLAG + "=")]
    if not spelled:
        return None
    if args[0] == RECORD_FLAG and len(args) == 2:
        path = Path(args[1])
    elif args[0].startswith(RECORD_FLAG + "=") and len(args) == 1:
        path = Path(args[0].split("=", 1)[1])
    else:
        sys.exit(
            f"lead-train: error: {RECORD_FLAG} FILE runs a recorded configuration as it is and takes no other "
            f"argument (got {' '.join(args)}): to change a setting, launch again with it, or run "
            "lead-train with overrides"
        )
    if path.suffix != ".yaml" or not path.is_file():
        sys.exit(
            f"lead-train: error: {RECORD_FLAG} {path}: not a .yaml file (a run's lead_config.yaml, written by "
            "lead launch)"
        )
    return path.resolve()


def hydra_arguments(record: Path) -> list[str]:
    """Hydra's command line loading ``record`` as the whole configuration, its files in ``<run>/hydra``."""
    return [
        f"--config-path={record.parent}",
        f"--config-name={record.stem}",
        f"hydra.run.dir={record.parent / 'hydra'}",
    ]


def explain_refusal(overrides: list[str]) -> str | None:
    """Hydra's refusal of ``overrides`` in plain words when it names a key that does not exist
    (``unknown key alpah in algorithm.lead; did you mean alpha?``); None for any other refusal.
    Composes again, so only after Hydra refused the command line."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        try:
            compose("lead_trainer", overrides=overrides)
        except Exception as err:  # noqa: BLE001 - only an unknown key is explained; Hydra reported the rest
            explained = explain_override_error(err, overrides)
            if explained is not err:
                return str(explained)
    return None


def main() -> None:
    global _composed
    _composed = False
    record = recorded_config(sys.argv[1:])
    if record is None and CPU_GROUP in sys.argv[1:]:
        # The group needs the CPU backend in every process: the group alone selects CPU mode too.
        device = os.environ.setdefault(DEVICE_ENV, "cpu")
        if device.strip().lower() != "cpu":
            sys.exit(f"error: {CPU_GROUP} contradicts {DEVICE_ENV}={device!r}; unset {DEVICE_ENV} or drop {CPU_GROUP}")
    if record is not None:
        # A recorded run trains on the device it was checked for.
        recorded = str(OmegaConf.select(OmegaConf.load(record), "trainer.device"))
        device = os.environ.setdefault(DEVICE_ENV, "cpu") if recorded == "cpu" else os.environ.get(DEVICE_ENV, "")
        if (device.strip().lower() == "cpu") != (recorded == "cpu"):
            sys.exit(
                f"error: {record} records a run with trainer.device={recorded}, which contradicts "
                f"{DEVICE_ENV}={device!r}; unset {DEVICE_ENV}"
            )
    try:
        cpu = select_from_env()
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    import lead.verl_plugin.plugin  # noqa: F401 - registers the estimators even when verl skips plugins

    if record is not None:
        sys.argv = [sys.argv[0], *hydra_arguments(record)]
        _train_recorded()
        return
    if cpu:
        args, notes = cpu_arguments(sys.argv[1:])
        for note in notes:
            print(f"CPU mode: {note}", flush=True)
        sys.argv = [sys.argv[0], *args]
    overrides = [a for a in sys.argv[1:] if not a.startswith("-")]
    try:
        check_release_names(overrides)
    except ValueError as err:
        sys.exit(f"lead-train: error: {err}")
    try:
        _train()
    except SystemExit as stop:
        if stop.code == 1 and not _composed and (explained := explain_refusal(overrides)):
            sys.exit(f"lead-train: error: {explained}")
        raise


if __name__ == "__main__":
    main()
