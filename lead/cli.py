"""`lead <command>`: one entry point for the project's tools.

Each command lives with the code it drives (``lead/<area>/cli.py``) and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only dispatches, importing a
command's module when that command is chosen so that ``lead --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "launch": ("lead.launch.cli", "plan, check and launch training runs (what the launch scripts call)"),
    "lab": ("lead.lab.cli", "train a tiny model with LEAD and baselines on a CPU in minutes"),
    "data": ("lead.data.cli", "prepare training and evaluation data (verl parquet / JSONL)"),
    "eval": ("lead.eval.cli", "evaluate a model or checkpoint on math benchmarks"),
    "report": ("lead.eval.report", "paper-style table and Pareto plot from evaluation runs"),
    "curves": ("lead.metrics", "training curves (reward, length, LEAD's weights) from runs' metrics.jsonl"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="lead", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.parse_args(argv)
        return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    cmd_parser = argparse.ArgumentParser(prog=f"lead {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    return int(module.run(cmd_parser.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
