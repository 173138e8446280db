"""The evaluation loop: prompts -> generation -> grading -> per-sample records and benchmark summaries.

Layout of a run folder (``--out``):

* ``run.json``: the model, backend and every setting that shapes the samples (preset, resolved
  per-benchmark sampling, seed, prompt template, chat template use, limit, versions), and
  ``provenance`` (:func:`provenance`: project version and git commit, grader digest, benchmark
  file checksums and counts).
* ``<benchmark>.jsonl``: one record per sample: problem ``id``, ``sample`` index, its ``seed``,
  the exact ``prompt`` text, the ``answer`` (gold list), the ``response`` text, ``tokens``,
  ``generated_ids`` (ids generated, the stop token included), ``truncated``, ``finish_reason``,
  ``extracted`` answer, ``correct`` and ``vote`` (answer class, :func:`assign_votes`), plus the
  preset and sampling values (temperature, top-p, top-k, budget) it was drawn with.
* ``<benchmark>.summary.json``: the settings, the metrics of :func:`lead.eval.metrics.summarize`
  (with ``by_level`` / ``by_subject`` when the benchmark file has those fields) and
  ``per_problem``, the ``[problems, samples]`` table of correctness, lengths, truncation and votes.
* ``<benchmark>.errors.jsonl``: samples the backend gave up on in the last run (not results;
  the benchmark gets no summary until a rerun has drawn them).

Work items are (problem, sample) pairs ordered sample-major (every problem's sample 0, then
every problem's sample 1, ...), so an interrupted run already holds complete early samples.
They are generated in chunks and each chunk is appended and flushed as soon as it is done; a
rerun with the same settings skips finished samples, drops a half-written last line, and
continues. Each sample has its own seed derived from (seed, benchmark, problem id, sample
index), so a resumed run draws the same samples as an uninterrupted one.

Token counts are the generated token ids without the final stop token; a response that hits
the budget is ``truncated`` and counted at the budget. Grading uses the project's math grader on
the last ``\\boxed{}`` after ``</think>``; a truncated response is scored wrong unless
``grade_truncated`` is set (the convention of the training reward).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lead.eval.backends import (
    Generation,
    HFBackend,
    OpenAIBackend,
    VLLMBackend,
    check_context_length,
    check_sampling,
    stop_token_ids,
    vllm_available,
    vllm_version,
)
from lead.eval.metrics import problem_table, summarize
from lead.eval.models import ensure_hub_model, resolve_model
from lead.eval.presets import Sampling, resolve_sampling


class EvalError(ValueError):
    """Bad evaluation input or an inconsistent results folder."""


DEFAULT_CHUNK = {"hf": 8, "vllm": 1024, "openai": 256}
# Settings that change which samples are drawn: a rerun into the same folder must match them.
_GENERATION_KEYS = (
    "model_path",
    "served_model",
    "backend",
    "dtype",
    "seed",
    "preset",
    "prompt_template",
    "chat_template",
    "system_prompt",
    "limit",
)


@dataclass
class EvalOptions:
    model: str
    benchmarks: list[str]
    out_dir: Path
    data_dir: Path
    preset: str = "sober"
    n: int | dict[str, int] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    seed: int = 0
    backend: str = "auto"
    dtype: str = "auto"
    device: str | None = None
    chunk_size: int | None = None
    limit: int | None = None
    chat_template: bool = True
    system_prompt: str | None = None
    prompt_template: str | None = None
    merged_dir: str | None = None
    fresh: bool = False
    rescore: bool = False
    grade_truncated: bool = False
    progress: bool = True
    name: str | None = None
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    trust_remote_code: bool = False
    base_url: str | None = None
    served_model_name: str | None = None
    concurrency: int = 8
    max_retries: int = 3
    request_timeout: float = 600.0


def sample_seed(seed: int, benchmark: str, problem_id: str, sample: int) -> int:
    """A 32-bit seed per sample, stable across runs, machines and chunkings."""
    digest = hashlib.sha256(f"{seed}/{benchmark}/{problem_id}/{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def default_prompt_template() -> str:
    from lead.data.eval_sets import build_prompt

    return build_prompt("{problem}")


def render_prompt(
    tokenizer: Any, problem: str, template: str, chat_template: bool, system_prompt: str | None = None
) -> tuple[str, list[int]]:
    """The prompt text the model sees and its token ids."""
    content = template.replace("{problem}", problem)
    if not chat_template:
        return content, list(tokenizer(content)["input_ids"])
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": content})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template already wrote BOS and role markers as text; tokenising must not add them again.
    return text, list(tokenizer(text, add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------------------------------------
# results files


def read_records(path: Path) -> list[dict]:
    """Records of a results file; an unterminated last line (a write cut short) is dropped and
    the file rewritten without it, any other unreadable line is an error."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    records, torn = [], False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                torn = True
                continue
            raise EvalError(
                f"{path}:{i + 1} is not valid JSON; the results file is damaged (delete it or rerun with --fresh)"
            ) from None
    if torn:
        print(f"{path}: dropping a half-written last line left by an interrupted run", file=sys.stderr)
        write_records(path, records)
    return records


def append_records(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        f.flush()
        os.fsync(f.fileno())


def write_records(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# grading


def grade_records(records: list[dict], grade_truncated: bool = False) -> None:
    """Fill ``extracted`` and ``correct`` in place with the project's grader."""
    from lead.rewards.math import extract_answer, grade_many

    for r in records:
        r["extracted"] = extract_answer(r["response"])
    todo = [r for r in records if _votes(r, grade_truncated)]
    verdicts = grade_many([r["extracted"] for r in todo], [r["answer"] for r in todo]) if todo else []
    for r in records:
        r["correct"] = False
    for r, ok in zip(todo, verdicts, strict=True):
        r["correct"] = bool(ok)


def _votes(record: Mapping[str, Any], grade_truncated: bool) -> bool:
    """A sample votes (and is graded) when it has an answer and, unless asked, was not truncated."""
    return record["extracted"] is not None and (grade_truncated or not record["truncated"])


def assign_votes(records: list[dict], grade_truncated: bool = False) -> None:
    """Fill ``vote``, the answer class of each graded record used by maj@k, in place.

    Per problem: correct samples are class 0 (all equal to the gold, so they vote together);
    the wrong answers are ordered by frequency (then by first sample index) and each joins the
    first class whose representative the grader finds equal to it (``grade(answer,
    representative)``, the representative in the gold's place), else starts class 1, 2, ...;
    samples without a vote (no answer, truncated) get None.
    """
    from lead.rewards.math import grade_many

    by_problem: dict[str, list[dict]] = {}
    for r in records:
        by_problem.setdefault(str(r["id"]), []).append(r)
    order: dict[str, list[str]] = {}
    for pid, recs in by_problem.items():
        wrong = sorted((r for r in recs if _votes(r, grade_truncated) and not r["correct"]), key=lambda r: r["sample"])
        counts = Counter(r["extracted"] for r in wrong)
        first = {}
        for r in wrong:
            first.setdefault(r["extracted"], r["sample"])
        order[pid] = sorted(counts, key=lambda a: (-counts[a], first[a]))
    pairs = [(a, ranked[j]) for ranked in order.values() for i, a in enumerate(ranked) for j in range(i)]
    equal = dict(zip(pairs, grade_many([a for a, _ in pairs], [g for _, g in pairs]) if pairs else []))
    for pid, recs in by_problem.items():
        representatives: list[str] = []
        cls: dict[str, int] = {}
        for answer in order[pid]:
            match = next((c for c, rep in enumerate(representatives, 1) if equal[(answer, rep)]), None)
            if match is None:
                representatives.append(answer)
                match = len(representatives)
            cls[answer] = match
        for r in recs:
            r["vote"] = (0 if r["correct"] else cls[r["extracted"]]) if _votes(r, grade_truncated) else None


# ---------------------------------------------------------------------------------------------
# the run


def _check_compatible(
    old: Mapping[str, Any], new: Mapping[str, Any], out_dir: Path, benchmarks_with_results: Sequence[str]
) -> None:
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in _GENERATION_KEYS if old.get(k) != new.get(k)]
    for b in benchmarks_with_results:
        was, now = old.get("benchmarks", {}).get(b), new["benchmarks"][b]
        if was is not None and was != now:
            diffs.append(f"{b} sampling: {was} -> {now}")
    if diffs:
        raise EvalError(
            f"{out_dir} holds results made with other settings ({'; '.join(diffs)}); "
            "use another --out, or --fresh to start this run over"
        )


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("lead-reasoning", "torch", "transformers", "math-verify"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["vllm"] = vllm_version()
    return out


_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_GRADER_FILES = ("math.py", "verifier.py", "_verify_worker.py")


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(_PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(data_dir: Path, problems: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """What produced the numbers: the project's version and git commit (when running from a
    checkout), the grader (its source digest and math-verify's version) and, per benchmark,
    the data file's SHA-256 with its problem count and the number evaluated."""
    from importlib.metadata import PackageNotFoundError, version

    import lead
    from lead.data.eval_sets import benchmark_path

    grader_dir = _PROJECT_ROOT / "lead" / "rewards"
    digest = hashlib.sha256(b"".join((grader_dir / f).read_bytes() for f in _GRADER_FILES)).hexdigest()
    libs = {}
    for pkg in ("math-verify", "latex2sympy2_extended"):
        try:
            libs[pkg] = version(pkg)
        except PackageNotFoundError:
            libs[pkg] = None
    commit = _git("rev-parse", "HEAD") if (_PROJECT_ROOT / ".git").exists() else None
    benchmarks = {}
    for b, evaluated in problems.items():
        path = benchmark_path(b, data_dir)
        with path.open(encoding="utf-8") as f:
            total = sum(1 for line in f if line.strip())
        benchmarks[b] = {
            "file": str(path.resolve()),
            "sha256": file_sha256(path),
            "problems": total,
            "evaluated": len(evaluated),
        }
    return {
        "lead_version": lead.__version__,
        "git_commit": commit,
        "git_dirty": None if commit is None else bool(_git("status", "--porcelain", "--untracked-files=no")),
        "grader": {"module": "lead.rewards.math", "source_sha256": digest, **libs},
        "benchmarks": benchmarks,
    }


def _pick_backend(requested: str) -> str:
    if requested == "auto":
        return "vllm" if vllm_available() else "hf"
    if requested not in ("hf", "vllm", "openai"):
        raise EvalError(f"unknown backend {requested!r}; expected auto, vllm, hf or openai")
    return requested


def evaluate(opts: EvalOptions, backends: dict[str, Any] | None = None) -> dict[str, dict]:
    """Run (or resume) an evaluation; returns ``{benchmark: summary}`` and writes the run folder.

    ``backends`` (a budget sweep's, over calls that differ only in a decreasing budget) keeps the
    vLLM or transformers backend built by one call for the next, so the model loads once."""
    from lead.data.eval_sets import BENCHMARKS, load_benchmark

    benchmarks = list(dict.fromkeys(opts.benchmarks))
    if not benchmarks:
        raise EvalError("no benchmark given")
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if unknown:
        raise EvalError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    if opts.limit is not None and opts.limit < 1:
        raise EvalError(f"--limit {opts.limit} is invalid: expected an integer >= 1")
    if opts.chunk_size is not None and opts.chunk_size < 1:
        raise EvalError(f"--chunk-size {opts.chunk_size} is invalid: expected an integer >= 1")
    try:
        sampling = resolve_sampling(
            opts.preset,
            benchmarks,
            n=opts.n,
            temperature=opts.temperature,
            top_p=opts.top_p,
            top_k=opts.top_k,
            max_tokens=opts.max_tokens,
        )
    except ValueError as exc:
        raise EvalError(str(exc)) from None
    template = opts.prompt_template if opts.prompt_template is not None else default_prompt_template()
    if "{problem}" not in template:
        raise EvalError(f"prompt template {template!r} has no {{problem}} placeholder")
    problems = {b: load_benchmark(b, opts.data_dir)[: opts.limit] for b in benchmarks}
    backend_name = _pick_backend(opts.backend)
    if (backend_name == "openai") != (opts.base_url is not None):
        raise EvalError(
            "--backend openai needs --base-url (the server's /v1 address), and --base-url needs --backend openai"
        )

    resolved = resolve_model(opts.model, opts.merged_dir, opts.trust_remote_code)
    if resolved.kind == "hub":
        ensure_hub_model(resolved.path)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=opts.trust_remote_code)
    if opts.chat_template and not tokenizer.chat_template:
        raise EvalError(f"{opts.model} has no chat template; pass --no-chat-template to feed the plain prompt")
    prompts = {
        b: [
            render_prompt(tokenizer, p["problem"], template, opts.chat_template, opts.system_prompt)
            for p in problems[b]
        ]
        for b in benchmarks
    }

    longest = max(len(ids) for b in benchmarks for _, ids in prompts[b])
    check_sampling(
        sampling.values(),
        vocab_size=len(tokenizer),
        longest_prompt=longest,
        max_model_len=opts.max_model_len if backend_name == "vllm" else None,
    )

    stop_ids = stop_token_ids(resolved.path, tokenizer)
    out_dir = Path(opts.out_dir)
    run_file = out_dir / "run.json"
    backend = None
    served_model = None
    if backend_name == "openai":
        served_model = opts.served_model_name
        if served_model is None and run_file.exists() and not opts.fresh:
            served_model = json.loads(run_file.read_text(encoding="utf-8")).get("served_model")
        if served_model is None:
            # Learn the served model's name before anything is written.
            backend = _openai_backend(opts, stop_ids, None, sampling.values(), longest)
            served_model = backend.model

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = resolved.path if resolved.kind == "hub" else str(Path(resolved.path).resolve())
    settings = {
        "name": opts.name or out_dir.name,
        "model": opts.model,
        "model_path": model_path,
        "model_kind": resolved.kind,
        "backend": backend_name,
        "served_model": served_model,
        "base_url": opts.base_url,
        "dtype": opts.dtype,
        "seed": opts.seed,
        "preset": opts.preset,
        "prompt_template": template,
        "chat_template": opts.chat_template,
        "system_prompt": opts.system_prompt,
        "limit": opts.limit,
        "grade_truncated": opts.grade_truncated,
        "data_dir": str(Path(opts.data_dir).resolve()),
        "benchmarks": {b: sampling[b].to_dict() for b in benchmarks},
    }
    prov = provenance(Path(opts.data_dir), problems)
    if opts.fresh:
        for f in [
            run_file,
            *(out_dir / f"{b}{suffix}" for b in BENCHMARKS for suffix in (".jsonl", ".summary.json", ".errors.jsonl")),
        ]:
            f.unlink(missing_ok=True)
    regrade_all = opts.rescore
    if run_file.exists():
        old = json.loads(run_file.read_text(encoding="utf-8"))
        with_results = [b for b in benchmarks if (out_dir / f"{b}.jsonl").exists()]
        _check_compatible(old, settings, out_dir, with_results)
        if old.get("grade_truncated") != opts.grade_truncated:
            regrade_all = True
        settings["benchmarks"] = {**old.get("benchmarks", {}), **settings["benchmarks"]}
        _check_same_data(old.get("provenance", {}).get("benchmarks", {}), prov["benchmarks"], out_dir, with_results)
    write_json(run_file, {**settings, "versions": _versions(), "provenance": prov, "command": sys.argv})

    existing = {b: _load_existing(out_dir / f"{b}.jsonl", problems[b], sampling[b]) for b in benchmarks}
    pending = {
        b: [
            (q, j)
            for j in range(sampling[b].n)
            for q in range(len(problems[b]))
            if (str(problems[b][q]["id"]), j) not in existing[b]
        ]
        for b in benchmarks
    }

    if any(pending.values()) and backend is None:
        if backend_name == "openai":
            backend = _openai_backend(opts, stop_ids, served_model, sampling.values(), longest)
        elif backends is not None and backend_name in backends:
            backend = backends[backend_name]
            if backend_name == "vllm":
                for s in sampling.values():
                    check_context_length(s, longest, backend.max_model_len, "the loaded vLLM engine's max_model_len")
        elif backend_name == "vllm":
            backend = VLLMBackend(
                resolved.path,
                stop_ids,
                dtype=opts.dtype,
                tensor_parallel_size=opts.tensor_parallel_size,
                gpu_memory_utilization=opts.gpu_memory_utilization,
                max_model_len=opts.max_model_len or longest + max(s.max_tokens for s in sampling.values()),
                seed=opts.seed,
                trust_remote_code=opts.trust_remote_code,
            )
        else:
            backend = HFBackend(
                resolved.path,
                tokenizer,
                stop_ids,
                dtype=opts.dtype,
                device=opts.device,
                trust_remote_code=opts.trust_remote_code,
            )
    if backend is not None and backends is not None and backend_name != "openai":
        backends[backend_name] = backend
    chunk = opts.chunk_size or DEFAULT_CHUNK[backend_name]

    summaries, failed = {}, {}
    for b in benchmarks:
        path = out_dir / f"{b}.jsonl"
        if pending[b]:
            path.with_name(f"{b}.errors.jsonl").unlink(missing_ok=True)
            _generate(
                backend,
                tokenizer,
                stop_ids,
                b,
                problems[b],
                prompts[b],
                sampling[b],
                pending[b],
                path,
                chunk,
                opts,
                total=sampling[b].n * len(problems[b]),
            )
        records = read_records(path)
        if len(records) < sampling[b].n * len(problems[b]):
            failed[b] = sampling[b].n * len(problems[b]) - len(records)
            continue
        ungraded = [r for r in records if r.get("correct") is None]
        if regrade_all or ungraded or any("vote" not in r for r in records):
            if regrade_all or ungraded:
                grade_records(records if regrade_all else ungraded, opts.grade_truncated)
            assign_votes(records, opts.grade_truncated)
            write_records(path, records)
        groups = {key: {str(p["id"]): p[key] for p in problems[b] if key in p} for key in ("level", "subject")}
        summary = {
            "benchmark": b,
            "name": settings["name"],
            "model": opts.model,
            "model_path": model_path,
            "settings": {
                **sampling[b].to_dict(),
                **{
                    k: settings[k]
                    for k in (
                        "preset",
                        "seed",
                        "backend",
                        "dtype",
                        "prompt_template",
                        "chat_template",
                        "system_prompt",
                        "limit",
                        "grade_truncated",
                    )
                },
            },
            "results_file": path.name,
            "metrics": summarize(records, {k: v for k, v in groups.items() if v}),
            "per_problem": problem_table(records).to_dict(),
        }
        write_json(out_dir / f"{b}.summary.json", summary)
        summaries[b] = summary
    if failed:
        counts = ", ".join(f"{k} sample(s) of {b}" for b, k in failed.items())
        raise EvalError(
            f"the backend reported errors for {counts}"
            + f" (listed in {out_dir}/<benchmark>.errors.jsonl); the other samples are saved; rerun the "
            "same command to retry the failed ones"
        )
    return summaries


def _check_same_data(
    old: Mapping[str, Any], new: Mapping[str, Any], out_dir: Path, benchmarks_with_results: Sequence[str]
) -> None:
    changed = [b for b in benchmarks_with_results if b in old and old[b].get("sha256") != new[b]["sha256"]]
    if changed:
        raise EvalError(
            f"{out_dir} holds samples of {', '.join(changed)} drawn from a different benchmark file "
            f"(SHA-256 {old[changed[0]].get('sha256')} -> {new[changed[0]]['sha256']} for {changed[0]}); "
            "use another --out, or --fresh to start this run over"
        )


def _openai_backend(
    opts: EvalOptions,
    stop_ids: Sequence[int],
    served_model: str | None,
    samplings: Iterable[Sampling],
    longest_prompt: int,
) -> OpenAIBackend:
    backend = OpenAIBackend(
        opts.base_url,
        stop_ids,
        served_model=served_model,
        concurrency=opts.concurrency,
        max_retries=opts.max_retries,
        timeout_s=opts.request_timeout,
        api_key=os.environ.get("OPENAI_API_KEY"),
    )
    # A server lowers a budget that does not fit its context instead of refusing it.
    for s in samplings:
        check_context_length(s, longest_prompt, backend.max_model_len, f"the max_model_len of {opts.base_url}")
    return backend


def _load_existing(path: Path, problems: Sequence[Mapping[str, Any]], sampling: Sampling) -> set[tuple[str, int]]:
    ids = {str(p["id"]) for p in problems}
    done: set[tuple[str, int]] = set()
    for r in read_records(path):
        key = (str(r["id"]), int(r["sample"]))
        if key[0] not in ids or not 0 <= key[1] < sampling.n:
            raise EvalError(
                f"{path} has a record for problem {key[0]!r} sample {key[1]} that is not part of this "
                "evaluation (different data or --limit); use another --out or --fresh"
            )
        if key in done:
            raise EvalError(f"{path} has two records for problem {key[0]!r} sample {key[1]}")
        drawn = {k: r.get(k) for k in ("temperature", "top_p", "top_k", "max_tokens")}
        wanted = {k: getattr(sampling, k) for k in drawn}
        if drawn != wanted:
            raise EvalError(f"{path} holds samples drawn with {drawn}, not {wanted}; use another --out or --fresh")
        done.add(key)
    return done


def _generate(
    backend: Any,
    tokenizer: Any,
    stop_ids: Sequence[int],
    benchmark: str,
    problems: Sequence[Mapping[str, Any]],
    prompts: Sequence[tuple[str, list[int]]],
    sampling: Sampling,
    pending: Sequence[tuple[int, int]],
    path: Path,
    chunk: int,
    opts: EvalOptions,
    total: int,
) -> None:
    from tqdm.auto import tqdm

    stops = set(stop_ids)
    with tqdm(
        total=total, initial=total - len(pending), desc=benchmark, unit="sample", disable=not opts.progress
    ) as bar:
        for start in range(0, len(pending), chunk):
            items = pending[start : start + chunk]
            seeds = [sample_seed(opts.seed, benchmark, str(problems[q]["id"]), j) for q, j in items]
            outs = backend.generate([prompts[q][1] for q, _ in items], sampling, seeds, progress=opts.progress)
            if len(outs) != len(items):
                raise RuntimeError(f"backend returned {len(outs)} generations for {len(items)} prompts")
            cut = [
                (q, j, out)
                for (q, j), out in zip(items, outs)
                if out.finish_reason == "length" and len(out.token_ids) < sampling.max_tokens
            ]
            if cut:
                q, j, out = cut[0]
                raise EvalError(
                    f"the {backend.name} backend stopped {len(cut)} response(s) for lack of room short of "
                    f"the budget (e.g. {benchmark} problem {problems[q]['id']!r} sample {j}: "
                    f"{len(out.token_ids)} of max_tokens={sampling.max_tokens} tokens, finish_reason "
                    "'length'): its context (max_model_len) cannot hold the prompt plus the budget. "
                    "Nothing of this chunk was saved; raise the context length or lower --max-tokens"
                )
            done = [(q, j, seed, out) for (q, j), seed, out in zip(items, seeds, outs) if out.finish_reason != "error"]
            append_records(
                path,
                [
                    _record(
                        benchmark, problems[q], j, seed, prompts[q][0], out, sampling, opts.preset, tokenizer, stops
                    )
                    for q, j, seed, out in done
                ],
            )
            errors = [
                {"benchmark": benchmark, "id": str(problems[q]["id"]), "sample": j, "seed": seed, "error": out.error}
                for (q, j), seed, out in zip(items, seeds, outs)
                if out.finish_reason == "error"
            ]
            if errors:
                append_records(path.with_name(f"{benchmark}.errors.jsonl"), errors)
            bar.update(len(items))


def _record(
    benchmark: str,
    problem: Mapping[str, Any],
    sample: int,
    seed: int,
    prompt: str,
    out: Generation,
    sampling: Sampling,
    preset: str,
    tokenizer: Any,
    stops: set[int],
) -> dict:
    body = out.token_ids
    if out.finish_reason == "stop" and body and body[-1] in stops:
        body = body[:-1]
    truncated = out.finish_reason == "length"
    return {
        "benchmark": benchmark,
        "id": str(problem["id"]),
        "sample": sample,
        "seed": seed,
        "response": tokenizer.decode(body, skip_special_tokens=False),
        "tokens": sampling.max_tokens if truncated else len(body),
        "generated_ids": len(out.token_ids),
        "truncated": truncated,
        "finish_reason": out.finish_reason,
        "extracted": None,
        "correct": None,
        "answer": list(problem["answer"]),
        "prompt": prompt,
        "preset": preset,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "max_tokens": sampling.max_tokens,
    }
