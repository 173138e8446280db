"""`lead eval --backend openai` against a small OpenAI-compatible server run by the test itself.

The server answers ``/v1/models`` and ``/v1/completions`` (prompt as token ids, per-request
seed, ``return_token_ids``) by generating with the transformers backend on one of the tiny
models, one request at a time, so its samples must equal those of a local ``--backend hf`` run.
A per-seed plan makes chosen requests fail: HTTP 500, HTTP 400, an answer slower than the
client's timeout, or a ``finish_reason`` of ``abort``. Like vLLM, the server fills sampling options
a request leaves out from the model's generation config (``generation_config``), lowers a budget
that does not fit its context (``context``) and lists that context in ``/v1/models`` when
``list_context`` is set.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lead.cli import main
from lead.eval.backends import NEUTRAL_SAMPLING, HFBackend, OpenAIBackend, stop_token_ids
from lead.eval.presets import Sampling
from lead.eval.runner import sample_seed
from tests.test_eval_harness import PROBLEMS, _eval, _records


class TinyServer:
    def __init__(self, model_dir, name: str = "tiny", slow_s: float = 1.5):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.backend = HFBackend(str(model_dir), self.tokenizer, stop_token_ids(str(model_dir), self.tokenizer))
        self.name, self.slow_s = name, slow_s
        self.plan: dict[int, list[str]] = {}
        self.attempts: dict[int, int] = {}
        self.bodies: list[dict] = []
        self.generation_config = {"top_k": 20, "repetition_penalty": 1.05, "min_p": 0.1}
        self.context: int | None = None
        self.list_context = True
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            def do_GET(self):
                if self.path == "/v1/models":
                    card = {"id": server.name, "object": "model"}
                    if server.context is not None and server.list_context:
                        card["max_model_len"] = server.context
                    self._send(200, {"object": "list", "data": [card]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seed = body["seed"]
                with server.lock:
                    server.bodies.append(body)
                    server.attempts[seed] = server.attempts.get(seed, 0) + 1
                    action = server.plan[seed].pop(0) if server.plan.get(seed) else None
                if body.get("model") != server.name:
                    return self._send(404, {"error": f"model {body.get('model')!r} does not exist"})
                if action == "500":
                    return self._send(500, {"error": "internal error"})
                if action == "400":
                    return self._send(400, {"error": "temperature must be in [0, 2]"})
                if action == "slow":
                    time.sleep(server.slow_s)
                options = {**server.generation_config, **body}
                unsupported = {k: options[k] for k, off in NEUTRAL_SAMPLING.items() if options.get(k, off) != off}
                if unsupported:
                    return self._send(400, {"error": f"this test server cannot sample with {unsupported}"})
                budget = body["max_tokens"]
                if server.context is not None:
                    budget = min(budget, server.context - len(body["prompt"]))
                sampling = Sampling(
                    n=1,
                    temperature=body["temperature"],
                    top_p=body["top_p"],
                    top_k=max(options["top_k"], 0),
                    max_tokens=budget,
                )
                with server.lock:
                    out = server.backend.generate([body["prompt"]], sampling, [seed])[0]
                reason = "abort" if action == "abort" else out.finish_reason
                self._send(
                    200,
                    {
                        "object": "text_completion",
                        "model": server.name,
                        "choices": [
                            {
                                "index": 0,
                                "text": server.tokenizer.decode(out.token_ids),
                                "token_ids": out.token_ids,
                                "finish_reason": reason,
                            }
                        ],
                        "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(out.token_ids)},
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def server(tiny):
    s = TinyServer(tiny["random"])
    yield s
    s.close()


@pytest.fixture(scope="module")
def local(tiny, tmp_path_factory):
    """The same evaluation with the transformers backend in this process."""
    out = tmp_path_factory.mktemp("local") / "run"
    assert _eval(tiny, out, *SAMPLING, "--backend", "hf", model="random") == 0
    return {b: _records(out / f"{b}.jsonl") for b in PROBLEMS}


SAMPLING = ("--n", "2", "--max-tokens", "6", "--temperature", "1.0", "--top-p", "1.0")


@pytest.fixture(autouse=True)
def quick_retries(server, monkeypatch):
    monkeypatch.setattr(OpenAIBackend, "backoff_s", 0.01)
    server.plan.clear()
    server.attempts.clear()
    server.bodies.clear()
    server.context, server.list_context = None, True


def _remote(tiny, server, out, *extra):
    return _eval(tiny, out, *SAMPLING, "--backend", "openai", "--base-url", server.url, *extra, model="random")


def test_server_samples_equal_local_samples_with_concurrency(tiny, server, local, tmp_path):
    out = tmp_path / "run"
    assert _remote(tiny, server, out, "--concurrency", "3") == 0
    for b in PROBLEMS:
        assert _records(out / f"{b}.jsonl") == local[b]
    run = json.loads((out / "run.json").read_text())
    assert (run["backend"], run["served_model"], run["base_url"]) == ("openai", "tiny", server.url)
    assert sum(server.attempts.values()) == 2 * 5 and set(server.attempts.values()) == {1}


def test_finished_run_is_rescored_without_the_server(tiny, server, local, tmp_path):
    out = tmp_path / "run"
    assert _remote(tiny, server, out) == 0
    summary = (out / "math500.summary.json").read_text()
    server.attempts.clear()
    down = ["--base-url", "http://127.0.0.1:9/v1"]  # nothing listens there
    assert _eval(tiny, out, *SAMPLING, "--backend", "openai", *down, "--rescore", model="random") == 0
    assert server.attempts == {} and (out / "math500.summary.json").read_text() == summary
    assert json.loads((out / "run.json").read_text())["served_model"] == "tiny"


def test_failed_and_timed_out_requests_are_retried(tiny, server, local, tmp_path):
    failing = sample_seed(0, "math500", "p2", 1)
    slow = sample_seed(0, "aime24", "q1", 0)
    server.plan = {failing: ["500", "500"], slow: ["slow"]}
    out = tmp_path / "run"
    assert _remote(tiny, server, out, "--request-timeout", "0.5") == 0
    assert server.attempts[failing] == 3 and server.attempts[slow] == 2
    for b in PROBLEMS:
        assert _records(out / f"{b}.jsonl") == local[b]


def test_a_request_failing_every_retry_is_listed_and_redrawn(tiny, server, local, tmp_path, capsys):
    failing = sample_seed(0, "math500", "p3", 0)
    aborted = sample_seed(0, "aime24", "q2", 1)
    server.plan = {failing: ["500"] * 3, aborted: ["abort"]}
    out = tmp_path / "run"
    assert _remote(tiny, server, out, "--max-retries", "2") == 2
    err = capsys.readouterr().err
    assert "1 sample(s) of math500, 1 sample(s) of aime24" in err
    (listed,) = _records(out / "math500.errors.jsonl")
    assert (listed["id"], listed["sample"]) == ("p3", 0)
    assert listed["error"].startswith("failed after 3 attempt(s): HTTP 500")
    assert _records(out / "aime24.errors.jsonl")[0]["error"] == "server finish reason 'abort'"
    assert _remote(tiny, server, out, "--max-retries", "2") == 0
    for b in PROBLEMS:
        assert sorted(_records(out / f"{b}.jsonl"), key=lambda r: (r["sample"], r["id"])) == sorted(
            local[b], key=lambda r: (r["sample"], r["id"])
        )


def test_refused_request_stops_at_once_and_unreachable_server_fails_before_writing(
    tiny,
    server,
    tmp_path,
    capsys,
):
    refused = sample_seed(0, "math500", "p1", 0)
    server.plan = {refused: ["400"]}
    assert _remote(tiny, server, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "refused with HTTP 400" in err and "temperature must be in [0, 2]" in err
    assert server.attempts[refused] == 1  # not retried

    assert _remote(tiny, server, tmp_path / "other", "--served-model-name", "big") == 2
    assert "does not serve 'big'; it serves ['tiny']" in capsys.readouterr().err

    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    start = time.monotonic()
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny["random"]),
                "--benchmarks",
                "math500",
                "--data-dir",
                str(tiny["data"]),
                "--out",
                str(tmp_path / "down"),
                "--no-progress",
                "--backend",
                "openai",
                "--base-url",
                f"http://127.0.0.1:{closed}/v1",
            ]
        )
        == 2
    )
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert f"cannot reach the server at http://127.0.0.1:{closed}/v1" in err
    assert not (tmp_path / "down" / "run.json").exists()
    assert _eval(tiny, tmp_path / "x", "--base-url", server.url) == 2
    assert "--base-url needs --backend openai" in capsys.readouterr().err


def test_every_sampling_option_is_sent_so_the_model_defaults_never_apply(tiny, server, local, tmp_path):
    out = tmp_path / "run"
    assert _remote(tiny, server, out) == 0  # top_k 0: off
    for b in PROBLEMS:
        assert _records(out / f"{b}.jsonl") == local[b]
    body = server.bodies[0]
    assert body["top_k"] == -1 and {k: body[k] for k in NEUTRAL_SAMPLING} == NEUTRAL_SAMPLING
    assert NEUTRAL_SAMPLING == {
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    }
    assert json.loads((out / "run.json").read_text())["benchmarks"]["math500"]["top_k"] == 0
    server.bodies.clear()
    assert _remote(tiny, server, tmp_path / "k5", "--top-k", "5") == 0
    assert {b["top_k"] for b in server.bodies} == {5}


def _longest_prompt(tiny, local):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["random"])
    return max(len(tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]) for b in PROBLEMS for r in local[b])


def test_a_budget_beyond_the_servers_context_is_refused_before_any_request(
    tiny,
    server,
    local,
    tmp_path,
    capsys,
):
    longest = _longest_prompt(tiny, local)
    server.context = longest + 5  # the budget is 6
    assert _remote(tiny, server, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert (
        f"the max_model_len of {server.url} {longest + 5} is shorter than the longest prompt ({longest} tokens) "
        f"plus the budget (6)"
    ) in err and f"to at least {longest + 6}" in err
    assert server.bodies == [] and not (tmp_path / "run" / "run.json").exists()
    server.context = longest + 6
    assert _remote(tiny, server, tmp_path / "fits") == 0


def test_a_response_the_server_cut_short_of_the_budget_is_not_recorded(
    tiny,
    server,
    local,
    tmp_path,
    capsys,
):
    server.context, server.list_context = _longest_prompt(tiny, local) + 3, False
    out = tmp_path / "run"
    assert _remote(tiny, server, out) == 2
    err = capsys.readouterr().err
    assert "the openai backend stopped" in err and "short of the budget" in err and "of max_tokens=6 tokens" in err
    # math500's prompts leave room for the budget; the longest prompt, and the chunk it is in, are aime24's.
    assert "aime24 problem" in err and not (out / "aime24.jsonl").exists()
    assert _records(out / "math500.jsonl") == local["math500"]
