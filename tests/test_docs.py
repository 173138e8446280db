"""The README and docs/: generated tables match the code, every link and anchor resolves, and the
README stays a front page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lead import docs

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
LINK = re.compile(r"!?\[(?:[^\]`]|`[^`]*`)*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code spans (whose brackets are no links)."""
    return re.sub(r"`[^`\n]*`", "``", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a page's headings (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = docs.anchor(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def test_generated_tables_match_the_code():
    stale = [str(p.relative_to(REPO)) for p in docs.stale_pages(REPO)]
    assert not stale, f"generated tables are stale in {stale}: run `python -m lead.docs` (or `make docs`) and commit"


def test_every_generated_table_is_on_a_page():
    text = "".join(p.read_text(encoding="utf-8") for p in docs.pages(REPO))
    used = set(re.findall(r"<!-- generated:(\S+) -->", text))
    assert set(docs.TABLES) <= used, f"tables no page shows: {sorted(set(docs.TABLES) - used)}"
    assert "knobs:lead" in used


def test_render_rewrites_a_stale_block_and_refuses_bad_markers():
    page = "intro\n<!-- generated:sweeps -->\n| old | table |\n<!-- /generated -->\nafter\n"
    rendered = docs.render(page)
    assert rendered.startswith("intro\n<!-- generated:sweeps -->\n\n| sweep |")
    assert "| old | table |" not in rendered and rendered.endswith("<!-- /generated -->\nafter\n")
    assert docs.render(rendered) == rendered
    with pytest.raises(ValueError, match="unknown generated table 'nosuch'"):
        docs.render("<!-- generated:nosuch -->\n<!-- /generated -->\n")
    with pytest.raises(ValueError, match="1 generated blocks opened, 0 closed"):
        docs.render("<!-- generated:sweeps -->\nno end\n")


def test_knob_tables_show_every_knob_of_every_method():
    from dataclasses import fields

    from lead.core.methods import load_methods

    for name, cls in load_methods().items():
        lines = docs.knobs_table(name).splitlines()[2:]
        assert [line.split(" | ")[0].strip("| `") for line in lines] == [f.name for f in fields(cls.config_cls)]
    lead = {line.split(" | ")[0].strip("| `"): line.split(" | ") for line in docs.knobs_table("lead").splitlines()[2:]}
    assert lead["bmax"][1:3] == ["`8000.0`", "cap"] and lead["lstar_mode"][1] == "`max_sym`"
    assert "A rollout is correct when its summed reward exceeds this." in lead["correct_threshold"][3]


def test_environment_table_lists_every_variable_the_launcher_reads():
    source = (REPO / "lead" / "launch" / "environment.py").read_text(encoding="utf-8")
    code = source[source.index('"""', 3) :]
    read = set(re.findall(r'env(?:iron)?(?:\.get\(|\[)"([A-Z_]+)"', code))
    read |= set(re.findall(r'(?:_flag|positive_int)\(env, "([A-Z_]+)"', code))
    documented = {name.split("=")[0] for name, _ in docs.environment_variables()}
    assert {"DEVICE", "BUDGET", "ENV_FILE"} <= read
    assert read <= documented, f"read by lead/launch/environment.py but not documented: {sorted(read - documented)}"


@pytest.mark.parametrize(
    "heading, slug",
    [
        ("What LEAD does", "what-lead-does"),
        ("The vLLM lane: vLLM on a CPU", "the-vllm-lane-vllm-on-a-cpu"),
        ("LEAD's knobs", "leads-knobs"),
        ("`laser_d`", "laser_d"),
        ("Knobs (`algorithm.lead.*`)", "knobs-algorithmlead"),
    ],
)
def test_anchor_follows_github(heading, slug):
    assert docs.anchor(heading) == slug


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in docs.pages(REPO):
        for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, fragment = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            where = f"{page.relative_to(REPO)}: {target}"
            if not dest.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(f"{where} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_pointers_from_the_code_name_existing_sections():
    """Messages and comments that send a user to ``docs/<page>.md, "<section>"`` name a real heading."""
    files = [
        p
        for folder in ("lead", "scripts", "tests", "tests_vllm")
        for p in (REPO / folder).rglob("*")
        if p.suffix in (".py", ".sh")
    ]
    files += [REPO / n for n in ("Makefile", "pyproject.toml", ".ci/run")] + sorted(REPO.glob("*.sh"))
    pointers = []
    for path in files:
        for page, section in re.findall(r'(docs/[\w/.-]+\.md),? \\?"([^"\\]+)\\?"', path.read_text(encoding="utf-8")):
            pointers.append((path.relative_to(REPO), page, section))
    assert any(section == "CUDA 12 drivers" for _, _, section in pointers)
    broken = [
        f"{path}: {page}, {section!r}"
        for path, page, section in pointers
        if not (REPO / page).is_file() or docs.anchor(section) not in anchors(REPO / page)
    ]
    assert not broken, "pointers to missing sections:\n" + "\n".join(broken)


def test_readme_is_a_front_page():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    # The first code block, near the top, holds the two fresh-machine commands and nothing else.
    first = re.search(r"^```bash\n(.*?)^```", text, re.S | re.M)
    assert text[: first.start()].count("\n") <= 5
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["make train", "make test"]
    assert "CI runs `make lint` (ruff), `make test`, then `make test-vllm`" in text
    for heading in ("Quick start", "Reproducing the paper", "The lab", "Layout", "Documentation"):
        assert heading in {m.group(2) for m in HEADING.finditer(FENCE.sub("", text))}


def test_makefile_targets_of_the_readme_exist():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)", (REPO / "README.md").read_text(encoding="utf-8")))
    assert {"train", "test", "test-vllm", "lab", "docs"} <= named <= targets
