"""The knobs' home: torch-free, every knob documented with its length role, the scaling rules,
the efficiency knobs LEAD and gdpo_static share, and an import graph of lead/core without cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from lead.core.knobs import (
    CONFIGS,
    PAPER_BUDGET,
    EfficiencyKnobs,
    GdpoStaticConfig,
    LeadConfig,
    MethodConfig,
    budget_knob,
    check_roles,
    knob_rows,
    scaled_knobs,
)
from lead.core.methods import load_methods

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "lead" / "core"


@pytest.mark.parametrize(
    "code",
    [
        "import lead.core.knobs as k; assert k.CONFIGS",
        # The launcher plans runs and checks BUDGET's keys from the declarations alone.
        "import lead.launch.cli as c, lead.launch.plan as p; assert c._cap_keys() and p.PAPER_CONTROLLER",
    ],
)
def test_reading_the_knobs_loads_no_torch(code):
    code += "; import sys; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr


def test_every_method_has_its_config_here_with_valid_roles():
    methods = load_methods()
    for name, cls in methods.items():
        assert CONFIGS[name] is cls.config_cls, name
        assert cls.config_cls.__module__ == "lead.core.knobs", name
    for config_cls in CONFIGS.values():
        check_roles(config_cls)


def test_every_knob_is_documented_and_rows_follow_the_hydra_block():
    for name in load_methods():
        rows = knob_rows(name)
        defaults = CONFIGS[name]().to_dict()
        assert [r.name for r in rows] == list(defaults), name
        for row in rows:
            assert row.doc and "\n" not in row.doc and "  " not in row.doc, (name, row.name)
            assert row.default == defaults[row.name] or (row.name == "schedule" and row.default == ()), (name, row)
    lead = {r.name: r for r in knob_rows("lead")}
    assert (lead["bmax"].role, lead["lstar_floor"].role, lead["alpha"].role) == ("cap", "tokens", "")
    assert lead["bmax"].doc.startswith("Upper clamp of L*, and L* of a prompt with no correct rollout.")
    assert {r.name: r.role for r in knob_rows("truncation")}["max_length"] == "cap, budget"
    assert {r.name: r.role for r in knob_rows("laser")}["target_length"] == "budget"
    assert {r.name: r.role for r in knob_rows("alp")}["beta"] == "per-token"
    assert knob_rows("lead")[0].doc.startswith("A rollout is correct when its summed reward exceeds this.")


def test_scaled_knobs_follow_the_declared_roles():
    cap = 32
    for name, config_cls in CONFIGS.items():
        defaults = config_cls()
        values = scaled_knobs(name, cap)
        assert set(values) == set(config_cls.token_knobs) | set(config_cls.per_token_knobs), name
        for knob in config_cls.token_knobs:
            want = cap if knob == config_cls.cap_knob else getattr(defaults, knob) * cap / PAPER_BUDGET
            assert values[knob] == want, (name, knob)
        for knob in config_cls.per_token_knobs:
            assert values[knob] == getattr(defaults, knob) * PAPER_BUDGET / cap, (name, knob)
    assert scaled_knobs("lead", 32) == {"bmax": 32.0, "lstar_floor": 4.0, "min_correct_len": 2.0}
    assert scaled_knobs("laser", 800) == {"target_length": 409.6}
    assert scaled_knobs("grpo", 32) == {}
    assert {n: budget_knob(n) for n in CONFIGS if budget_knob(n)} == {
        "truncation": "max_length",
        "dler": "max_length",
        "laser": "target_length",
        "grpo_len_threshold": "threshold",
    }
    for bad in (0, -5, float("nan"), True, "32"):
        with pytest.raises(ValueError, match=r"response cap .* is invalid"):
            scaled_knobs("lead", bad)
    with pytest.raises(ValueError, match=r"unknown method 'nope'; available: \["):
        scaled_knobs("nope", 32)


def test_lead_and_gdpo_static_share_the_efficiency_knobs():
    shared = [f.name for f in fields(EfficiencyKnobs)]
    assert shared == [
        "correct_threshold",
        "bmax",
        "lstar_mode",
        "aggregator",
        "lstar_floor",
        "min_correct_len",
        "group_std_eps",
        "whiten_eps",
        "zero_unsolved_efficiency",
        "whiten_weighting",
    ]
    lead, gdpo = LeadConfig(), GdpoStaticConfig()
    assert {k: getattr(lead, k) for k in shared} == {k: getattr(gdpo, k) for k in shared}
    assert sorted(gdpo.to_dict()) == sorted([*shared, "w_corr", "w_eff"])
    for config_cls in (LeadConfig, GdpoStaticConfig):
        assert (config_cls.cap_knob, config_cls.token_knobs) == ("bmax", ("bmax", "lstar_floor", "min_correct_len"))
    # The shared checks name the method's own key.
    with pytest.raises(
        ValueError,
        match=r"algorithm\.gdpo_static\.lstar_floor=9000\.0 is invalid: "
        r"expected lstar_floor <= bmax \(8000\.0\)",
    ):
        GdpoStaticConfig(lstar_floor=9000.0)
    with pytest.raises(ValueError, match=r"algorithm\.gdpo_static\.aggregator='max' is invalid"):
        GdpoStaticConfig(aggregator="max")
    with pytest.raises(ValueError, match=r"algorithm\.lead\.whiten_eps=0 is invalid"):
        LeadConfig(whiten_eps=0)


def test_a_method_name_has_one_config():
    with pytest.raises(ValueError, match=r"method 'lead' already has the config lead\.core\.knobs\.LeadConfig"):
        type("OtherLeadConfig", (MethodConfig,), {"method": "lead"})
    assert CONFIGS["lead"] is LeadConfig


def test_register_method_refuses_another_methods_config():
    from lead.core.registry import METHODS, register_method

    class Impostor:
        config_cls = LeadConfig

    with pytest.raises(ValueError, match=r"method 'impostor': its config LeadConfig is for method 'lead'"):
        register_method("impostor")(Impostor)
    assert "impostor" not in METHODS


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_import_graph() -> dict[str, set[str]]:
    """``{module: modules of lead/core it imports}`` from every import statement of lead/core
    (``from package import name`` counts as importing the submodule ``name`` when there is one)."""
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                for alias in node.names:
                    edges.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def check_acyclic(graph: dict[str, set[str]]) -> None:
    """Fail naming the first import cycle found (depth-first, in sorted order)."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_core_import_graph_has_no_cycle():
    graph = core_import_graph()
    assert {
        "lead.core.knobs",
        "lead.core.lead",
        "lead.core.registry",
        "lead.core.rollouts",
        "lead.core.methods",
        "lead.core.methods.gdpo_static",
    } <= set(graph)
    assert graph["lead.core.knobs"] == set()
    assert graph["lead.core.rollouts"] == {"lead.core.groups"}
    assert graph["lead.core.registry"] == {"lead.core.knobs", "lead.core.rollouts"}
    assert "lead.core.lead" in graph["lead.core.methods"]
    check_acyclic(graph)


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    core = tmp_path / "lead" / "core"
    core.mkdir(parents=True)
    (core / "__init__.py").write_text("")
    (core / "a.py").write_text("from lead.core.b import x\n")
    (core / "b.py").write_text("from lead.core import a\nx = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "CORE", core)
    graph = core_import_graph()
    assert graph == {"lead.core": set(), "lead.core.a": {"lead.core.b"}, "lead.core.b": {"lead.core.a"}}
    with pytest.raises(AssertionError, match=r"import cycle: lead\.core\.a -> lead\.core\.b -> lead\.core\.a"):
        check_acyclic(graph)
