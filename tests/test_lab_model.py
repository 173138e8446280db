"""The lab's offline model: tokenizer and weights survive save/reload, and sampling and training
see the same distribution."""

import random

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from lead.lab.model import ModelConfig, build_model, build_tokenizer, load, save
from lead.lab.task import BOS, TaskConfig, random_problem, warmup_example
from lead.lab.train import Rollouts, prompt_text, response_logprobs, sample

TINY = ModelConfig(hidden=32, layers=1, heads=2, ffn=64)


def task_texts(n: int, seed: int = 0) -> list[str]:
    cfg = TaskConfig()
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        p = random_problem(rng, cfg)
        texts.append(f"{BOS} {p.prompt()} {warmup_example(rng, cfg, p)}")
    return texts


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tok = build_tokenizer(TaskConfig())
    model = build_model(tok, TINY, seed=0)
    path = save(model, tok, tmp_path_factory.mktemp("model"))
    return tok, model, path


def test_token_ids_survive_the_auto_round_trip(saved):
    tok, _, path = saved
    reloaded = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert reloaded.get_vocab() == tok.get_vocab()
    assert len(reloaded) == len(TaskConfig().vocab)
    texts = task_texts(500)
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    assert reloaded(texts, add_special_tokens=False)["input_ids"] == ids
    for text, row in zip(texts, ids):
        # Word level: exactly one id per whitespace-separated word, none of them unknown.
        assert len(row) == len(text.split())
        assert tok.unk_token_id not in row
        assert reloaded.decode(row) == text
    assert (reloaded.pad_token_id, reloaded.bos_token_id, reloaded.eos_token_id) == (0, 1, 2)


def test_weights_and_sampling_settings_survive_the_round_trip(saved):
    tok, model, path = saved
    reloaded, _ = load(path)
    assert isinstance(reloaded, LlamaForCausalLM)
    ids = torch.tensor(tok(task_texts(4, seed=1), add_special_tokens=False, padding=True)["input_ids"])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)
    gen = reloaded.generation_config
    assert (gen.do_sample, gen.temperature, gen.top_k, gen.top_p) == (True, 1.0, 0, 1.0)
    assert sum(p.numel() for p in reloaded.parameters()) == sum(p.numel() for p in model.parameters())


def test_load_rejects_a_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load(tmp_path)


def test_model_config_validation():
    with pytest.raises(ValueError, match="hidden=30.*heads=4"):
        ModelConfig(hidden=30, heads=4)
    with pytest.raises(ValueError, match="layers=0"):
        ModelConfig(layers=0)


def test_left_padded_batch_generates_as_single_prompts(saved):
    """Batched, left-padded greedy decoding must equal decoding each prompt alone."""
    tok, model, _ = saved
    rng = random.Random(2)
    cfg = TaskConfig()
    problems = [random_problem(rng, cfg, k) for k in (1, 5, 3, 2)]
    batched = sample(model, tok, problems, 1, 12, greedy=True)
    for i, p in enumerate(problems):
        alone = sample(model, tok, [p], 1, 12, greedy=True)
        n = int(alone.lengths[0])
        assert int(batched.lengths[i]) == n
        assert torch.equal(batched.response_ids[i, :n], alone.response_ids[0, :n])


def test_training_logprobs_match_the_sampling_distribution(saved):
    """The policy-gradient forward (explicit positions over left padding) scores sampled tokens
    with the same log-probabilities that generate() sampled them from."""
    tok, model, _ = saved
    rng = random.Random(3)
    problems = [random_problem(rng, TaskConfig(), k) for k in (1, 4, 2)]
    ids = tok([prompt_text(p) for p in problems], add_special_tokens=False, padding=True, return_tensors="pt")
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            **ids,
            max_new_tokens=10,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    response = out.sequences[:, ids["input_ids"].shape[1] :]
    expected = torch.stack([torch.log_softmax(s, dim=-1) for s in out.scores], dim=1)
    expected = expected.gather(-1, response.unsqueeze(-1)).squeeze(-1)
    ro = Rollouts(
        ids["input_ids"],
        ids["attention_mask"],
        response,
        torch.ones_like(response),
        torch.full((3,), response.shape[1]),
        [],
    )
    with torch.no_grad():
        got = response_logprobs(model, ro)
    # Rows that stopped early are padded after <eos>; compare up to and including <eos>.
    for i in range(3):
        eos = (response[i] == tok.eos_token_id).nonzero()
        n = int(eos[0]) + 1 if len(eos) else response.shape[1]
        torch.testing.assert_close(got[i, :n], expected[i, :n], atol=1e-4, rtol=1e-4)
