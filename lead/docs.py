"""The documentation's tables that mirror the code, generated from it.

A page holds each such table between two markers::

    <!-- generated:methods -->
    ...
    <!-- /generated -->

and ``python -m lead.docs`` (``make docs``) rewrites what lies between them from the code;
``python -m lead.docs --check`` lists the pages whose tables differ from the code and exits 1.
Generated tables (:data:`TABLES`):

* ``methods``: every registered advantage method but LEAD, its paper and what it computes;
* ``knobs:<method>``: one method's knobs (``algorithm.<method>.*``) with their defaults, length
  roles and docs; ``competing-knobs`` the same for every method but LEAD, one section each;
* ``environment``: the launch scripts' environment variables (:mod:`lead.launch.environment`);
* ``recipes``: the training recipes (``lead/verl_plugin/config/experiment/*.yaml``);
* ``scripts``: the launch scripts and what each one runs;
* ``sweeps``: the ablation sweeps (:data:`lead.launch.plan.SWEEPS`);
* ``presets``: the evaluation presets (:data:`lead.eval.presets.PRESETS`).
"""

from __future__ import annotations

import argparse
import inspect
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "lead" / "verl_plugin" / "config" / "experiment"
SCRIPT_GLOBS = ("train_*.sh", "baselines/*.sh", "ablations/*.sh")
BLOCK = re.compile(r"(<!-- generated:(?P<name>[^\s>]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)
ARXIV = re.compile(r"arXiv (\d{4}\.\d{4,5})")


def pages(root: Path = ROOT) -> list[Path]:
    """The README and every page under ``docs/``."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


# ---------------------------------------------------------------------------------------------
# Formatting


def cell(text: str) -> str:
    """Text as one Markdown table cell: RST literals as code, one line, pipes escaped."""
    text = " ".join(text.split()).replace("``", "`")
    text = re.sub(r":(?:func|class|mod|data|meth|attr):`~?([^`]+)`", r"`\1`", text)
    return text.replace("|", "\\|")


def value(default: Any) -> str:
    """A default as the Hydra override would write it."""
    if default is None:
        return "`null`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return "`" + re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(default)) + "`"
    if isinstance(default, (list, tuple)):
        return f"`[{', '.join(value(v).strip('`') for v in default)}]`"
    return f"`{default}`"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.search(r"\.(\s|$)", text)
    return text[: match.start() + 1] if match else text


def paragraphs(doc: str | None) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", inspect.cleandoc(doc or "")) if p.strip()]


# ---------------------------------------------------------------------------------------------
# Tables


def methods_table() -> str:
    """Every registered method but LEAD (which has its own section): paper, what it computes, module."""
    from lead.core.methods import load_methods

    rows = []
    for name, cls in sorted(load_methods().items()):
        if name == "lead":
            continue
        module = sys.modules[cls.__module__]
        module_doc = inspect.cleandoc(module.__doc__ or "")
        # A module with several methods names each one's paper beside its name.
        found = re.search(rf"``{name}`` \([^)]*?arXiv (\d{{4}}\.\d{{4,5}})", module_doc) or ARXIV.search(module_doc)
        paper = f"[arXiv {found.group(1)}](https://arxiv.org/abs/{found.group(1)})" if found else "—"
        summary = first_sentence(cls.__doc__) if cls.__doc__ else paragraphs(module_doc)[0]
        path = Path(module.__file__).resolve().relative_to(ROOT).as_posix()
        rows.append([f"[`{name}`](#{anchor(name)})", paper, cell(summary), f"[{Path(path).name}](../{path})"])
    return table(["method", "paper", "what it computes", "module"], rows)


def knobs_table(method: str) -> str:
    """The knobs of one method: default, length role and doc."""
    from lead.core.knobs import knob_rows

    rows = [[f"`{k.name}`", value(k.default), k.role, cell(k.doc)] for k in knob_rows(method)]
    return table(["knob", "default", "length", "meaning"], rows)


def competing_knobs() -> str:
    """A section per registered method other than LEAD, with its knob table."""
    from lead.core.methods import load_methods

    sections = []
    for name in sorted(n for n in load_methods() if n != "lead"):
        cls = load_methods()[name]
        title = cell(paragraphs(cls.config_cls.__doc__)[0]) if cls.config_cls.__doc__ else ""
        if title.startswith(f"{cls.config_cls.__name__}("):
            title = ""
        sections.append(f"### `{name}`\n\n" + (f"{title}\n\n" if title else "") + knobs_table(name))
    return "\n".join(sections)


def environment_variables() -> list[tuple[str, str]]:
    """(variable, meaning) of every launch variable, from the table in the docstring of
    :mod:`lead.launch.environment` (the table ``lead launch --help`` prints)."""
    from lead.launch import environment

    doc = environment.__doc__ or ""
    lines = doc[doc.index("=====") :].splitlines()[1:]
    rows: list[list[str]] = []
    for line in lines:
        if line.startswith("="):
            break
        match = re.match(r"``([^`]+)``\s+(.*)", line)
        if match:
            rows.append([match.group(1), match.group(2)])
        elif line.strip():
            rows[-1][1] += " " + line.strip()
    return [(name, text) for name, text in rows]


def environment_table() -> str:
    return table(["variable", "meaning"], [[f"`{name}`", cell(text)] for name, text in environment_variables()])


def recipe(name: str) -> Any:
    """The experiment file ``name`` merged over the recipes it extends (without the base config)."""
    from omegaconf import OmegaConf

    node = OmegaConf.load(EXPERIMENTS / f"{name}.yaml")
    parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    own = OmegaConf.masked_copy(node, [k for k in node if k != "defaults"])
    return OmegaConf.merge(*(recipe(p) for p in parents), own)


def header_comment(path: Path, marker: str) -> str:
    """The first paragraph of a file's leading comment (lines starting with ``marker``), up to a
    list if one follows, without its closing colon."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#!") or line.startswith("# @package"):
            continue
        text = line[len(marker) :].strip() if line.startswith(marker) else ""
        if not text or text.startswith("- "):
            if lines:
                break
            continue
        lines.append(text)
    return " ".join(lines).rstrip(":")


def recipes_table() -> str:
    """Every training recipe: what it extends, what it is, and its source's cost figure."""
    from omegaconf import OmegaConf

    rows = []
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        node = OmegaConf.load(path)
        parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        summary = header_comment(path, "#")
        summary = summary.split(": ", 1)[0] if ": " in summary else first_sentence(summary)
        cost = recipe(path.stem).get("cost")
        if cost is None:
            figure = "—"
        else:
            hours = f"{cost.hours} h" if cost.hours is not None else "no time given"
            figure = f"{cost.gpus} × {cost.gpu}, {hours}, {cost.steps} steps"
        rows.append(
            [f"`{path.stem}`", ", ".join(f"`{p}`" for p in parents) or "`lead_trainer`", cell(summary), cell(figure)]
        )
    return table(["recipe", "extends", "what it is", "cost (the source's figure)"], rows)


def script_arguments(path: Path) -> list[str]:
    """The ``lead launch`` options of a launch script (its ``exec .../launch.sh "$0" ...`` line)."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("exec "))
    words = shlex.split(line)
    return words[words.index("$0") + 1 : words.index("--")]


def scripts_table() -> str:
    """Every launch script with its recipe, method or sweep and its own settings."""
    rows = []
    scripts = [p for pattern in SCRIPT_GLOBS for p in sorted(ROOT.glob(pattern))]
    for path in scripts:
        args = script_arguments(path)
        options: dict[str, list[str]] = {}
        for flag, arg in zip(args[::2], args[1::2]):
            options.setdefault(flag, []).append(arg)
        runs = (
            f"sweep [`{options['--sweep'][0]}`](#sweeps)"
            if "--sweep" in options
            else f"`{options['--method'][0]}`"
            if "--method" in options
            else "the recipe's"
        )
        own = [f"`{flag} {arg}`" for flag in ("--name", "--set", "--env-knob") for arg in options.get(flag, [])]
        rel = path.relative_to(ROOT).as_posix()
        rows.append(
            [
                f"[`{rel}`](../{rel})",
                cell(first_sentence(header_comment(path, "# "))),
                f"`{options['--experiment'][0]}`",
                runs,
                ", ".join(own),
            ]
        )
    return table(["script", "what it trains", "recipe", "method", "its own settings"], rows)


def sweeps_table() -> str:
    """Every sweep: its runs with the default variables, and what it varies."""
    from lead.launch.plan import SWEEPS

    by_sweep: dict[str, list[str]] = {}
    for path in sorted(ROOT.glob("ablations/*.sh")):
        args = script_arguments(path)
        if "--sweep" in args:
            by_sweep.setdefault(args[args.index("--sweep") + 1], []).append(path.relative_to(ROOT).as_posix())
    rows = []
    for name, sweep in SWEEPS.items():
        scripts = by_sweep.get(name, [])
        rows.append(
            [
                f"`{name}`",
                ", ".join(f"`{s}`" for s in scripts),
                str(len(sweep({}))),
                cell(" ".join(paragraphs(sweep.__doc__))),
            ]
        )
    return table(["sweep", "script", "runs", "what it varies (variables: default)"], rows)


def presets_table() -> str:
    """The evaluation presets of ``lead eval --preset`` (:data:`lead.eval.presets.PRESETS`)."""
    from lead.eval.presets import PRESETS
    from lead.eval.runner import EvalOptions

    rows = []
    for name, preset in PRESETS.items():
        counts: dict[int, list[str]] = {}
        for benchmark, n in preset.n.items():
            counts.setdefault(n, []).append(benchmark)
        samples = "; ".join(f"{n} for {', '.join(names)}" for n, names in counts.items())
        rows.append(
            [
                f"`{name}`" + (" (default)" if name == EvalOptions.preset else ""),
                str(preset.temperature),
                str(preset.top_p),
                str(preset.top_k or "off"),
                samples,
                f"{preset.max_tokens:,}",
                cell(preset.source),
            ]
        )
    return table(["preset", "temperature", "top-p", "top-k", "n (samples per problem)", "budget", "source"], rows)


TABLES: dict[str, Callable[[], str]] = {
    "methods": methods_table,
    "competing-knobs": competing_knobs,
    "environment": environment_table,
    "recipes": recipes_table,
    "scripts": scripts_table,
    "sweeps": sweeps_table,
    "presets": presets_table,
}


def generate(name: str) -> str:
    """The Markdown of generated table ``name`` (``knobs:<method>`` for one method's knobs)."""
    if name.startswith("knobs:"):
        return knobs_table(name.split(":", 1)[1])
    if name not in TABLES:
        raise ValueError(f"unknown generated table {name!r}; known: {sorted(TABLES)} and knobs:<method>")
    return TABLES[name]()


# ---------------------------------------------------------------------------------------------
# Pages


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation but ``-`` and ``_`` dropped, spaces to ``-``."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def render(text: str, where: str = "page") -> str:
    """``text`` with every generated block rewritten from the code."""
    opened = text.count("<!-- generated:")
    blocks = list(BLOCK.finditer(text))
    if len(blocks) != opened:
        raise ValueError(f"{where}: {opened} generated blocks opened, {len(blocks)} closed by <!-- /generated -->")
    cache: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in cache:
            cache[name] = generate(name)
        return f"{match.group(1)}\n{cache[name]}\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def stale_pages(root: Path = ROOT) -> list[Path]:
    """The pages whose generated blocks differ from what the code gives now."""
    return [p for p in pages(root) if render(p.read_text(encoding="utf-8"), str(p)) != p.read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lead.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale pages and exit 1 instead of rewriting")
    args = parser.parse_args(argv)
    if not (ROOT / "docs").is_dir():
        parser.error(f"no docs/ folder beside {ROOT / 'lead'}: run it in a source checkout of the project")
    stale = stale_pages()
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run `python -m lead.docs` or `make docs`)")
        return 1 if stale else 0
    for path in stale:
        path.write_text(render(path.read_text(encoding="utf-8"), str(path)), encoding="utf-8")
        print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
