"""`lead data <math|deepscaler|dapo|eval>`: prepare training parquet files or evaluation sets.

Without ``--source`` the rows are downloaded from their public Hugging Face datasets with the
``datasets`` library (see ``lead.data.sources.HF_SOURCES``); with it they are read from local
files. A summary of rows read, written and dropped (and why) is printed for every output file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lead.data import prepare, sources
from lead.data.eval_sets import BENCHMARKS


def _levels(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        bounds = (int(lo), int(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"levels must look like 3-5 or 4, got {text!r}") from None
    if bounds[0] > bounds[1]:
        raise argparse.ArgumentTypeError(f"levels range {text!r} is empty")
    return bounds


def _benchmarks(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(BENCHMARKS)}"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="<dataset>", required=True)
    descriptions = {
        "math": "MATH levels 3-5 for training (MATH-500 excluded), MATH-500 for validation (the paper's data)",
        "deepscaler": "DeepScaleR-Preview training set, MATH-500 for validation",
        "dapo": "DAPO-Math-17k training set (de-duplicated, instructions replaced), MATH-500 for validation",
    }
    for name in prepare.TRAIN_SETS:
        p = sub.add_parser(name, help=descriptions[name], description=descriptions[name])
        p.add_argument(
            "--out",
            type=Path,
            metavar="DIR",
            default=Path("data") / name,
            help="output directory (default: %(default)s)",
        )
        p.add_argument(
            "--source",
            type=Path,
            metavar="PATH",
            help="local training rows (file or directory) instead of downloading "
            f"{sources.HF_SOURCES[name].describe()}",
        )
        p.add_argument(
            "--math500",
            type=Path,
            metavar="PATH",
            help=f"local MATH-500 file instead of downloading {sources.HF_SOURCES['math500'].describe()}",
        )
        p.add_argument(
            "--data-source",
            metavar="NAME",
            default=prepare.DEFAULT_DATA_SOURCE,
            help="value of the data_source column (default: %(default)s, as in the paper's files)",
        )
        if name == "math":
            p.add_argument(
                "--levels", type=_levels, metavar="LO-HI", default=(3, 5), help="MATH levels to train on (default: 3-5)"
            )
    p = sub.add_parser("eval", help="evaluation benchmarks as normalised JSONL", description="evaluation benchmarks")
    p.add_argument(
        "--out", type=Path, metavar="DIR", default=Path("data") / "eval", help="output directory (default: %(default)s)"
    )
    p.add_argument(
        "--source",
        type=Path,
        metavar="DIR",
        help="local directory with one raw file per benchmark (e.g. minerva_math.jsonl) instead of downloading",
    )
    p.add_argument(
        "--benchmarks",
        type=_benchmarks,
        metavar="LIST",
        default=list(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)",
    )


def _rows(name: str, local: Path | None, option: str) -> list[dict]:
    """Rows of ``local``, or downloaded when it is None; a failed download names ``option``,
    the way to give a local copy instead."""
    if local is not None:
        return sources.read_local(local)
    source = sources.HF_SOURCES[name]
    print(f"downloading {source.describe()} ...", file=sys.stderr)
    try:
        return sources.load_hf(source)
    except Exception as e:  # noqa: BLE001 - the hub and `datasets` raise many types; all mean "not downloaded"
        raise OSError(
            f"cannot download {source.describe()}: {e}. Without access to the Hugging Face hub, "
            f"pass a local copy with {option}"
        ) from None


def run(args: argparse.Namespace) -> int:
    try:
        if args.dataset == "eval":
            if args.source is not None and not args.source.is_dir():
                raise FileNotFoundError(f"--source {args.source} is not a directory")
            rows_by_name = {}
            for name in args.benchmarks:
                local = None
                if args.source is not None:
                    local = sources.find_local_benchmark(args.source, name)
                    if local is None:
                        stems = ", ".join(sources.LOCAL_NAMES[name])
                        raise FileNotFoundError(f"no file for {name} in {args.source} (looked for {stems})")
                rows_by_name[name] = _rows(name, local, "--source DIR")
            reports = prepare.prepare_eval(args.out, rows_by_name)
        else:
            reports = prepare.prepare_train(
                args.dataset,
                args.out,
                train_rows=_rows(args.dataset, args.source, "--source PATH"),
                math500_rows=_rows("math500", args.math500, "--math500 PATH"),
                data_source=args.data_source,
                levels=getattr(args, "levels", None),
            )
    except (OSError, ValueError) as e:
        print(f"lead data {args.dataset}: error: {e}", file=sys.stderr)
        return 1
    for report in reports:
        print(report)
    print(f"wrote {args.out}")
    return 0
