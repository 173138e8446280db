"""The package's floors: every import of the project's own modules runs down (or stays on its floor).

Read from the source with ``ast`` (imports inside functions count too), so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lead"

# Lowest first. A module may import from its own floor and the floors below it. The applications
# (evaluation, launcher, lab) sit above the verl plugin they drive; the lab trains through verl by
# starting ``lead-train`` in a subprocess with the launcher's runner.
FLOORS: list[tuple[str, ...]] = [
    ("lead", "lead.core", "lead.metrics"),  # "lead" is the package's __init__ alone
    ("lead.rewards",),
    ("lead.data",),
    ("lead.eval",),
    ("lead.verl_plugin",),
    ("lead.launch",),
    ("lead.lab",),
    ("lead.cli", "lead.__main__", "lead.docs"),  # the docs generator reads every floor
]

# (importer, imported) pairs that run up a floor today, each with the reason it is still there.
# An entry whose import is gone fails the test below, so the list only shrinks.
KNOWN_UPWARD = {
    ("lead.verl_plugin.cpu.assets", "lead.lab.model"): "the CPU mode's model is built by the lab's Llama builder",
}

# Packages that must not import others even where the floors would allow it.
FORBIDDEN = {
    # The lab reaches verl only through ``lead-train`` in a subprocess, never in its own process.
    "lead.lab": ("lead.verl_plugin",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor_of(name: str) -> int | None:
    best, best_len = None, -1
    for index, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            matches = name == prefix if prefix == "lead" else name == prefix or name.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def project_imports(name: str, path: Path) -> set[str]:
    """Every ``lead`` module that ``name`` imports (a ``from a import b`` names ``a.b`` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {n for n in found if n == "lead" or n.startswith("lead.")}


IMPORTS = {name: project_imports(name, path) for name, path in MODULES.items()}


def test_every_module_has_a_floor():
    assert len(MODULES) > 50
    assert [name for name in MODULES if floor_of(name) is None] == []


def upward(imports: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs whose imported module sits on a higher floor than its importer."""
    return sorted(
        (name, imported)
        for name, imported_names in imports.items()
        for imported in imported_names
        if floor_of(imported) is not None and floor_of(imported) > floor_of(name)
    )


def test_imports_run_down_the_floors():
    found = upward(IMPORTS)
    assert [pair for pair in found if pair not in KNOWN_UPWARD] == [], "imports that run up a floor (see FLOORS)"
    assert [pair for pair in KNOWN_UPWARD if pair not in found] == [], "no longer imported: drop from KNOWN_UPWARD"


def test_an_upward_import_is_caught():
    imports = {
        "lead.rewards.selfcheck": {"lead.data.sources", "lead.rewards.math"},
        "lead.lab.verl_loop": {"lead.launch.runner", "lead.core.registry"},
        "lead.verl_plugin.cpu.runner": {"lead.launch.processes"},
    }
    assert upward(imports) == [
        ("lead.rewards.selfcheck", "lead.data.sources"),
        ("lead.verl_plugin.cpu.runner", "lead.launch.processes"),
    ]


def test_forbidden_imports():
    found = sorted(
        (name, imported)
        for name, imports in IMPORTS.items()
        for package, banned in FORBIDDEN.items()
        if name == package or name.startswith(package + ".")
        for imported in imports
        if any(imported == b or imported.startswith(b + ".") for b in banned)
    )
    assert found == []


@pytest.mark.parametrize(
    ("source", "importer", "expected"),
    [
        ("from lead.data.sources import answers_of\n", "lead.rewards.math", {"lead.data.sources"}),
        ("def f():\n    from lead.verl_plugin.cpu import assets\n", "lead.lab.train", {"lead.verl_plugin.cpu.assets"}),
        (
            "from . import groups\nfrom ..rewards import math\n",
            "lead.core.lead",
            {"lead.core.groups", "lead.rewards.math"},
        ),
        ("import lead\nimport torch\n", "lead.eval.runner", {"lead"}),
    ],
)
def test_the_parser_sees_every_form_of_import(tmp_path, source, importer, expected):
    """The checks above are only as good as the import reader: absolute, nested and relative forms."""
    path = tmp_path / "mod.py"
    path.write_text(source)
    assert project_imports(importer, path) == expected
