"""``lead launch``: plan, check, resume or skip, and launch training runs.

The launch scripts (``train_*.sh``, ``baselines/``, ``ablations/``) are a few lines that call this
command with their recipe (``--experiment``), method and run name, or sweep; their arguments are
Hydra overrides applied last. The environment variables are documented in
:mod:`lead.launch.environment`.

    lead launch --experiment math_1p5b --method lead -- trainer.total_epochs=1
    DRY_RUN=1 lead launch --experiment ablation_1p5b --sweep ratio
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lead.launch import environment as E
from lead.launch.cost import help_cost_line, plan_cost_line, run_cost_line
from lead.launch.plan import SWEEPS, PlannedRun, append_plan, read_plan, run_name

# Keys the environment or the run's name set, and the variable that sets each.
OWNED_KEYS = {
    "data.max_response_length": "BUDGET",
    "actor_rollout_ref.rollout.response_length": "BUDGET",
    "actor_rollout_ref.rollout.max_model_len": "BUDGET",
    "trainer.n_gpus_per_node": "N_GPUS",
    "trainer.nnodes": "NNODES",
    "actor_rollout_ref.model.path": "BASE_MODEL",
    "trainer.default_local_dir": "RUN",
    "trainer.experiment_name": "RUN",
}
CPU_TAG = "cpu-tiny"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "environment variables:\n" + _environment_help()
    parser.add_argument(
        "--experiment",
        default="math_1p5b",
        help="training recipe: a file of lead/verl_plugin/config/experiment/ (default math_1p5b)",
    )
    parser.add_argument("--method", help="advantage estimator (default: the recipe's)")
    parser.add_argument("--name", help="run name before the model tag (default math_<method>); RUN_NAME replaces both")
    parser.add_argument("--sweep", choices=sorted(SWEEPS), help="plan one run per point of a paper table")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the script's own, before the user's overrides (repeatable)",
    )
    parser.add_argument(
        "--env-knob",
        action="append",
        default=[],
        metavar="VAR=KEY",
        help="environment variable VAR, when set, sets KEY to a token count (repeatable)",
    )
    parser.add_argument("--script", help="the launch script calling this command (for --help)")
    parser.add_argument("--root", help="project root: .env and relative paths are read from here (default: cwd)")
    parser.add_argument("--check", metavar="PLAN_FILE", help="check the runs of a PLAN_FILE written by scripts")
    parser.add_argument("--dry-run", action="store_true", help="as DRY_RUN=1")
    parser.add_argument("--print-config", action="store_true", help="as PRINT_CONFIG=1")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (key=value)")


def _environment_help() -> str:
    doc = E.__doc__ or ""
    table = doc[doc.index("=====") :]
    return "\n".join(
        "  " + line.replace("``", "") for line in table.splitlines() if not line.startswith("=") and line.strip()
    )


def script_help(script: str) -> str:
    """The header comment of a launch script, without the comment marks."""
    lines = []
    for line in Path(script).read_text(encoding="utf-8").splitlines()[1:]:
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines)


def _cap_keys() -> dict[str, str]:
    """Every method's cap knob (its declared ``cap_knob``), which ``BUDGET`` sets."""
    from lead.core.knobs import cap_knobs

    return {f"algorithm.{name}.{knob}": "BUDGET" for name, knob in cap_knobs().items()}


def recipe_model(experiment: str) -> str:
    """The model path an experiment file trains (following its defaults list)."""
    from omegaconf import OmegaConf

    folder = Path(__file__).resolve().parents[1] / "verl_plugin" / "config" / "experiment"
    path = folder / f"{experiment}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in folder.glob("*.yaml"))
        raise E.LaunchError(f"--experiment {experiment!r} is not a recipe; available: {', '.join(names)}")
    node = OmegaConf.load(path)
    model = OmegaConf.select(node, "actor_rollout_ref.model.path")
    if model is None:
        parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        return recipe_model(parents[0]) if parents else ""
    return str(model)


def plan_runs(args: argparse.Namespace, launch: E.LaunchEnv) -> list[PlannedRun]:
    """The runs the arguments and the environment ask for (no verl import: fast, for bad settings)."""
    E.check_user_overrides(args.overrides, {**OWNED_KEYS, **_cap_keys()})
    env = launch.env
    base = [f"experiment={args.experiment}", *(f"{k}={v}" for k, v in launch.overrides.items())]
    if launch.cpu:
        from lead.verl_plugin.main import cpu_arguments

        # The CPU group, and the tiny offline model and generated data unless BASE_MODEL/DATA_DIR name others.
        base, notes = cpu_arguments(base)
        for note in notes:
            print(f"CPU mode: {note}", file=sys.stderr)
    for item in args.env_knob:
        variable, _, key = item.partition("=")
        if env.get(variable, "").strip():
            base.append(f"{key}={E.positive_int(env, variable, 'a number of tokens', '2000')}")
    tag = launch.model_tag(recipe_model(args.experiment))
    if launch.cpu and not env.get("BASE_MODEL"):
        # The recipe's model stays in the name: the 1.5B and 7B scripts' CPU runs are different runs.
        tag = f"{tag}-{CPU_TAG}"
    if args.sweep:
        if env.get("RUN_NAME"):
            raise E.LaunchError(
                f"RUN_NAME={env['RUN_NAME']!r} names a single run; a sweep names each of its runs "
                f"(set OUTPUT_ROOT to keep sweeps apart)"
            )
        points = [(f"{p.stem}_{tag}", p.overrides) for p in SWEEPS[args.sweep](env)]
        if not points:
            raise E.LaunchError("no runs planned (check the sweep's subset variables)")
    else:
        own = [f"algorithm.adv_estimator={args.method}"] if args.method else []
        stem = args.name or f"math_{args.method or 'lead'}"
        points = [(env.get("RUN_NAME") or f"{stem}_{tag}", own)]
    runs = []
    for name, own in points:
        name = run_name(name)
        runs.append(
            PlannedRun(
                name,
                [
                    *base,
                    *own,
                    *args.set,
                    f"trainer.experiment_name={name}",
                    f"trainer.default_local_dir={launch.output_root}/{name}",
                    *args.overrides,
                ],
                device=launch.device,
            )
        )
    return runs


def summary(report) -> str:
    """One run in a few lines: state, layout, length, batch, cap, changed knobs, folder."""
    from lead.launch.check import describe_state, method_changes

    if not report.ok:
        return f"[invalid] {report.run.name}:\n    " + report.error.replace("\n", "\n    ")
    cfg = report.config
    trainer, rollout = cfg.trainer, cfg.actor_rollout_ref.rollout
    method = cfg.algorithm.adv_estimator
    changed = method_changes(cfg)
    lines = [
        f"[ok] {report.run.name}: {describe_state(report)}",
        f"    {trainer.n_gpus_per_node} GPU(s) x {trainer.nnodes} node(s) ({report.run.device}), "
        f"{cfg.data.train_batch_size} prompts x {rollout.n} rollouts, "
        f"responses <= {cfg.data.max_response_length} tokens, model {cfg.actor_rollout_ref.model.path}",
        f"    {method}: " + (", ".join(changed) if changed else "default knobs"),
        f"    checkpoints: {report.output_dir}",
    ]
    lines += [f"    {line}" for line in [run_cost_line(report)] if line]
    lines += [f"    warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.script and any(o in ("-h", "--help") for o in args.overrides):
        print(script_help(args.script))
        try:
            runs = len(SWEEPS[args.sweep](os.environ)) if args.sweep else 1
        except E.LaunchError:
            runs = len(SWEEPS[args.sweep]({}))
        if cost := help_cost_line(args.experiment, runs):
            print(f"\n{cost}")
        print("\nUsage: bash", args.script, "[hydra.key=value ...]   (DRY_RUN=1 to check without launching)")
        print("\nEnvironment variables (also read from .env):\n" + _environment_help())
        return 0
    root = Path(args.root or os.getcwd()).resolve()
    try:
        launch = E.read_launch_env(os.environ, root)
        if args.check:
            runs = read_plan(args.check)
        else:
            runs = plan_runs(args, launch)
    except E.LaunchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if launch.env_file is not None:
        print(f"loaded {launch.env_file}", file=sys.stderr)
    if launch.plan_file and not args.check:
        append_plan(runs, launch.plan_file)
        print(f"appended {len(runs)} planned run(s) to {launch.plan_file}", file=sys.stderr)
        return 0

    from lead.launch.check import check_plan

    dry = args.dry_run or launch.dry_run or bool(args.check)
    print(
        f"Planned runs ({len(runs)}), under {launch.output_root}:"
        if not args.check
        else f"Planned runs ({len(runs)}) of {args.check}:"
    )
    from lead.launch.execute import launcher_warnings_quieted

    with launcher_warnings_quieted():
        reports = check_plan(runs, ray_address=launch.env.get("RAY_ADDRESS"))
    for report in reports:
        print(summary(report), file=sys.stdout if report.ok else sys.stderr)
        if report.ok and (args.print_config or launch.print_config):
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(report.config, resolve=True))
    bad = [r.run.name for r in reports if not r.ok]
    if bad:
        print(f"{len(bad)} of {len(reports)} planned run(s) invalid: {', '.join(bad)}", file=sys.stderr)
        return 1
    if total := plan_cost_line(reports):
        print(total)
    if dry:
        print(f"DRY_RUN: all {len(reports)} planned run(s) valid; nothing launched.")
        return 0
    from lead.launch.execute import Rerun, launch_all

    rerun = Rerun(args.script, list(args.overrides), launch.env.get("LEAD_RERUN") or None)
    return launch_all(reports, launch.env, rerun=rerun)
