"""What a GPU user runs beyond plain PyTorch, executed on real vLLM 0.24.0 (its CPU build).

verl's own vLLM rollout trains the launch scripts in CPU mode (the FSDP actor's weights synced into
vLLM after every step, through shared memory), and ``lead eval``'s vLLM and OpenAI-server backends
evaluate the trained checkpoint. Every run is a subprocess in its own session with a time-out: a vLLM
worker that dies leaves verl's weight sender waiting for ever.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lead.launch.runner import Run, run_cpu
from lead.verl_plugin.cpu import assets
from tests.test_verl_cpu_e2e import RESTORED_LINE

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 900
EVAL_TIMEOUT_S = 600
SERVER_READY_S = 300
VLLM = ["actor_rollout_ref.rollout.name=vllm"]
LEAD_SCRIPT = "train_math_lead_deepseek-r1-1.5b.sh"
LEAD_RUN = "math_lead_deepseek-r1-1.5b-cpu-tiny"
pytestmark = pytest.mark.timeout(2 * (RUN_TIMEOUT_S + 60))
# vLLM's CPU KV cache, in GiB, for the eval and server processes (the training runs get it from the
# CPU config group).
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def launch_script(cache: Path, workdir: Path, script: str, *overrides: str) -> Run:
    """``DEVICE=cpu bash <script> <overrides>`` with the environment's Python; runs under workdir/out."""
    empty = workdir / "empty.env"
    empty.write_text("")
    env = {
        "LEAD_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
        "OUTPUT_ROOT": str(workdir / "out"),
        "PYTHON": sys.executable,
        "ENV_FILE": str(empty),
    }
    run = run_cpu(["bash", str(REPO / script), *overrides], env, workdir, RUN_TIMEOUT_S)
    assert not run.stray_pids, f"processes of the run outlived it: {run.stray_pids}"
    assert not run.timed_out, f"{script} did not finish within {RUN_TIMEOUT_S} s:\n{run.output[-5000:]}"
    print(
        f"\n{script} {' '.join(overrides)}: exit {run.returncode}, wall {run.wall_s} s, s/step {run.seconds_per_step()}"
    )
    return run


def assert_trained_through_vllm(run: Run, steps: list[int]) -> None:
    """The run trained ``steps`` with verl's vLLM rollout, and vLLM sampled with the trained weights.

    vLLM starts from random weights (verl's ``load_format: dummy``) and gets the actor's through the
    weight sync before the first rollout and after every update: rollout and actor probabilities of
    the sampled tokens then agree closely, which random weights never would."""
    assert run.returncode == 0, run.output[-8000:]
    assert "actor_rollout_ref.rollout.name=vllm" in run.output or "rollout.name = vllm" in run.output
    assert "vLLMHttpServer" in run.output and "hfcpu_server" not in run.output
    assert sorted(run.steps) == steps
    for step, m in run.steps.items():
        assert m["timing_s/update_weights"] > 0, (step, m)
        assert m["training/rollout_probs_diff_max"] < 0.25 and m["training/rollout_probs_diff_mean"] < 0.02, (step, m)
        assert max(abs(m["critic/advantages/max"]), abs(m["critic/advantages/min"])) < 1e3


@pytest.fixture(scope="module")
def lead_run(cpu_cache, tmp_path_factory):
    """The LEAD script through vLLM: the CPU group's 2 steps, then the same command resumed to 3."""
    workdir = tmp_path_factory.mktemp("lead-vllm")
    first = launch_script(cpu_cache, workdir, LEAD_SCRIPT, *VLLM)
    assert first.returncode == 0, first.output[-8000:]
    second = launch_script(cpu_cache, workdir, LEAD_SCRIPT, *VLLM, "trainer.total_training_steps=3")
    assert second.returncode == 0, second.output[-8000:]
    return workdir / "out" / LEAD_RUN, first, second


def test_lead_script_trains_through_vllm_rollout_and_resumes(lead_run):
    ckpt, first, second = lead_run
    assert_trained_through_vllm(first, [1, 2])
    assert f"[ok] {LEAD_RUN}: new, 2 steps" in first.output
    for step, m in first.steps.items():
        assert m["lead/step"] == step and 0 < m["lead/w_corr"] < 1
    saved = json.loads((ckpt / "global_step_2" / "lead_state.json").read_text())

    assert f"[ok] {LEAD_RUN}: resume from step 2 of 3" in second.output
    assert_trained_through_vllm(second, [3])
    assert second.steps[3]["lead/step"] == 3
    restored = [m for m in map(RESTORED_LINE.search, second.output.splitlines()) if m]
    assert len(restored) == 1 and restored[0].group(1).endswith("global_step_2/lead_state.json")
    assert json.loads(restored[0].group(2)) == saved["methods"]
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "3"


def test_grpo_script_trains_through_vllm_rollout(cpu_cache, tmp_path):
    run = launch_script(
        cpu_cache, tmp_path, "train_math_grpo_deepseek-r1-1.5b.sh", *VLLM, "trainer.total_training_steps=1"
    )
    assert_trained_through_vllm(run, [1])
    assert any(k.startswith("grpo_len_threshold/") for k in run.steps[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lead_eval(*args: str, timeout_s: float = EVAL_TIMEOUT_S, **env: str) -> subprocess.CompletedProcess:
    """``python -m lead eval ...`` in its own session (vLLM's engine is a child process), killed past
    the time-out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lead", "eval", "--no-progress", *args],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **VLLM_ENV, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"lead eval {' '.join(args)} did not finish within {timeout_s} s:\n{out[-5000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of its session is left (engine processes)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-8000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory) -> Path:
    """The CPU mode's held-out one-digit problems as a benchmark file ``math500.jsonl``."""
    folder = tmp_path_factory.mktemp("eval-data")
    pool = assets.problems(assets.SEED)[-12:]
    with (folder / "math500.jsonl").open("w") as f:
        for i, (text, answer) in enumerate(pool):
            f.write(json.dumps({"id": f"p{i}", "benchmark": "math500", "problem": text, "answer": [answer]}) + "\n")
    return folder


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_eval_vllm_backend_on_the_trained_checkpoint_with_default_chunking(lead_run, eval_data, tmp_path):
    ckpt, _, _ = lead_run
    common = [
        "--model",
        str(ckpt / "global_step_3"),
        "--benchmarks",
        "math500",
        "--data-dir",
        str(eval_data),
        "--backend",
        "vllm",
        "--dtype",
        "float32",
        "--merged-dir",
        str(tmp_path / "merged"),
    ]
    # Seeded samples (the default preset), the default chunk, and a budget sweep in one engine.
    lead_eval(*common, "--out", str(tmp_path / "sweep"), "--max-tokens", "16,32")
    run = json.loads((tmp_path / "sweep" / "max_tokens_32" / "run.json").read_text())
    assert run["backend"] == "vllm" and run["versions"]["vllm"].startswith("0.24.0")
    small = {(r["id"], r["sample"]): r for r in records(tmp_path / "sweep" / "max_tokens_16" / "math500.jsonl")}
    large = {(r["id"], r["sample"]): r for r in records(tmp_path / "sweep" / "max_tokens_32" / "math500.jsonl")}
    assert len(small) == len(large) == 12 * 3
    # The small budget reuses the large budget's samples that ended within it, token for token.
    reused = [r for r in small.values() if "reused_from" in r]
    assert reused and all(r["response"] == large[(r["id"], r["sample"])]["response"] for r in reused)
    assert all(r["tokens"] <= 16 for r in small.values())
    assert len({r["seed"] for r in large.values()}) == len(large)
    # The same seeds draw the same samples in a fresh run.
    lead_eval(*common, "--out", str(tmp_path / "again"), "--max-tokens", "32")
    again = {(r["id"], r["sample"]): r["response"] for r in records(tmp_path / "again" / "math500.jsonl")}
    assert again == {k: r["response"] for k, r in large.items()}


def test_vllm_greedy_responses_equal_the_transformers_backend(cpu_cache, eval_data, tmp_path):
    model = assets.ensure_model()
    greedy = [
        "--model",
        str(model),
        "--benchmarks",
        "math500",
        "--data-dir",
        str(eval_data),
        "--n",
        "2",
        "--temperature",
        "0",
        "--max-tokens",
        "32",
        "--dtype",
        "float32",
    ]
    lead_eval(*greedy, "--backend", "hf", "--out", str(tmp_path / "hf"))
    lead_eval(*greedy, "--backend", "vllm", "--out", str(tmp_path / "vllm"))
    hf = {(r["id"], r["sample"]): r["response"] for r in records(tmp_path / "hf" / "math500.jsonl")}
    vl = {(r["id"], r["sample"]): r["response"] for r in records(tmp_path / "vllm" / "math500.jsonl")}
    assert len(hf) == 24 and vl == hf


@pytest.fixture
def vllm_server(cpu_cache, tmp_path):
    """``vllm serve`` of the CPU model on 127.0.0.1, stopped by its process group when the test ends."""
    model = assets.ensure_model()
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "vllm"),
            "serve",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dtype",
            "float32",
            "--enforce-eager",
            "--max-model-len",
            "512",
            "--seed",
            "0",
        ],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **VLLM_ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_READY_S
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-5000:]
            assert time.monotonic() < deadline, f"vllm serve not ready in {SERVER_READY_S} s"
            try:
                with urllib.request.urlopen(f"{base}/v1/models", timeout=5) as resp:
                    served = json.load(resp)
                break
            except OSError:
                time.sleep(2)
        yield base, model, served
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_openai_backend_against_vllm_serve(vllm_server, eval_data, tmp_path):
    base, model, served = vllm_server
    assert served["data"][0]["max_model_len"] == 512
    common = [
        "--model",
        str(model),
        "--benchmarks",
        "math500",
        "--data-dir",
        str(eval_data),
        "--max-tokens",
        "32",
        "--dtype",
        "float32",
    ]
    lead_eval(*common, "--backend", "openai", "--base-url", f"{base}/v1", "--out", str(tmp_path / "server"))
    lead_eval(*common, "--backend", "vllm", "--out", str(tmp_path / "offline"))
    server = {(r["id"], r["sample"]): r for r in records(tmp_path / "server" / "math500.jsonl")}
    offline = {(r["id"], r["sample"]): r for r in records(tmp_path / "offline" / "math500.jsonl")}
    assert server.keys() == offline.keys() and len(server) == 36
    for r in server.values():
        assert r["finish_reason"] in ("stop", "length") and r["tokens"] <= 32
        assert (r["finish_reason"] == "length") == (r["tokens"] == 32)
    # Same seeds, same sampling: the server's samples are the offline engine's, up to the few that
    # batching changes (vLLM's numerics depend on the batch).
    same = sum(server[k]["response"] == offline[k]["response"] for k in server)
    assert same >= 0.9 * len(server), f"{same} of {len(server)} server samples equal the offline ones"
    assert json.loads((tmp_path / "server" / "run.json").read_text())["backend"] == "openai"
