"""Sampling, training and scoring agree on every family users bring (Llama 3, Qwen2, Gemma,
Phi-3, Mistral, GPT-2): BOS where the family's tokenizer uses one, the family's own
end-of-turn token, and left padding that changes nothing: not the tokens sampled, not the
update, not the reward. Tiny random models with tokenizers shaped like the family's
(tests/families.py), loaded by the app's own loader."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from families import FAMILIES, Family, save_family

from core.models.loading import load_model_folder
from core.reward.model import Featurizer, RewardHead
from core.reward.versions import load_backbone
from core.sampling.generation import (Completion, SamplingSettings, encode_prompt, end_of_turn_id, sample,
                                      stop_token_ids)
from core.superhf.config import SuperHFConfig
from core.superhf.loop import superhf_iteration
from core.superhf.policy import build_policy, lora_targets
from core.superhf.step import MicroBatch, completion_batch, optimise_step

PROMPTS = ["Hi", "Tell me about the sea.", "What is two and two? Name a colour, and write a short poem."]
ANSWERS = ["Hello! How are you?", "The sea is wide and blue.", "Four."]
GREEDY = dict(temperature=0, precision="float32", seed=0)


@pytest.fixture(scope="module", params=FAMILIES, ids=lambda f: f.name)
def family(request) -> Family:
    return request.param


@pytest.fixture(scope="module")
def folder(family, tmp_path_factory) -> Path:
    # Larger random weights than a config's default: peaked logits, so greedy choices are
    # clear-cut and sampled answers are varied.
    return save_family(family, tmp_path_factory.mktemp(family.name) / "model", initializer_range=0.3)


@pytest.fixture(scope="module")
def lm(folder):
    return load_model_folder(folder, device="cpu")


def rows(batch) -> list[list[int]]:
    """The batch's rows without their left padding."""
    return [ids[mask.bool()].tolist() for ids, mask in zip(batch.input_ids, batch.attention_mask)]


def forcing_at(lm, token: int, call: int):
    """A hook on the output layer that makes ``token`` certain at forward pass ``call`` (0: the
    prompt's), or impossible at every pass when ``call`` is None."""
    calls = [0]

    def hook(module, inputs, output):
        calls[0] += 1
        if call is None:
            output[..., token] = -1e4
        elif calls[0] - 1 == call:
            output[..., token] = 1e4
        return output

    return lm.model.get_output_embeddings().register_forward_hook(hook)


@pytest.fixture(scope="module")
def reward_model(folder):
    """A tiny reward model on the family's backbone: a random head on the app's features."""
    backbone, tokenizer, device = load_backbone(folder, "cpu")
    featurizer = Featurizer(backbone, tokenizer, device)
    dim = featurizer.forward([("Hi", "Hello")]).shape[-1]
    torch.manual_seed(1)
    head = RewardHead(torch.zeros(dim), torch.ones(dim))
    torch.nn.init.normal_(head.linear.weight)
    return featurizer, head


# ---------------------------------------------------------------- BOS

def test_prompts_lead_with_bos_exactly_where_the_family_tokenizer_uses_one(family, lm, reward_model):
    tok = lm.tokenizer
    ids = encode_prompt(tok, PROMPTS[1])
    assert (ids[0] == tok.bos_token_id) == family.adds_bos
    assert ids.count(tok.bos_token_id) == (1 if family.adds_bos else 0)  # never twice (template and tokenizer)
    # Training encodes the same prompt ids, for sampled answers and for answers given as text.
    sampled = sample(lm, PROMPTS[1:2], 2, SamplingSettings(max_new_tokens=4, **GREEDY))
    as_text = [Completion(0, PROMPTS[1], ANSWERS[1], True, 0)]
    for made in (sampled, as_text):
        for row in rows(completion_batch(tok, made)):
            assert row[:len(ids)] == ids
    # So does the reward model.
    featurizer, _ = reward_model
    encoded, _ = featurizer.encode([(PROMPTS[1], ANSWERS[1])])
    assert encoded[0][:len(ids)] == ids


# ---------------------------------------------------------------- end of turn

def test_the_family_end_of_turn_token_stops_sampling_and_ends_finished_answers_only(family, lm):
    tok = lm.tokenizer
    eot = tok.convert_tokens_to_ids(family.end_of_turn)
    assert end_of_turn_id(tok) == eot
    assert eot in stop_token_ids(lm)
    settings = SamplingSettings(max_new_tokens=6, **GREEDY)
    handle = forcing_at(lm, eot, 3)  # the model ends its turn after three tokens
    try:
        finished = sample(lm, PROMPTS[:1], 1, settings)[0]
    finally:
        handle.remove()
    assert finished.finished and finished.new_tokens == 3 and eot not in finished.token_ids
    handle = forcing_at(lm, eot, None)  # it never does: cut at the token limit
    try:
        cut = sample(lm, PROMPTS[:1], 1, settings)[0]
    finally:
        handle.remove()
    assert not cut.finished and cut.new_tokens == 6
    batch = completion_batch(tok, [finished, cut])
    ended, unended = rows(batch)
    assert ended == list(finished.prompt_ids) + list(finished.token_ids) + [eot]
    assert unended == list(cut.prompt_ids) + list(cut.token_ids)
    assert batch.completion_mask[0, -1] == 1  # the end-of-turn token is a training target


# ---------------------------------------------------------------- masks and positions

def test_greedy_answers_in_a_padded_batch_are_those_of_each_prompt_alone(lm):
    together = sample(lm, PROMPTS, 1, SamplingSettings(max_new_tokens=8, batch_size=len(PROMPTS), **GREEDY))
    alone = [sample(lm, [p], 1, SamplingSettings(max_new_tokens=8, **GREEDY))[0] for p in PROMPTS]
    assert len({len(a.prompt_ids) for a in together}) == len(PROMPTS)  # three lengths: padding in play
    assert [a.token_ids for a in together] == [a.token_ids for a in alone]
    assert [a.finished for a in together] == [a.finished for a in alone]


def perturbed_policy(folder):
    """The LoRA policy with random adapters, so that it differs from its reference (KL > 0)."""
    policy = build_policy(folder, SuperHFConfig(lora_dropout=0.0), device="cpu")
    torch.manual_seed(2)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    return policy


class KeepGradients:
    """An optimiser that leaves the gradients where the step put them, to read them."""

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        pass

    def __init__(self, params):
        self.params = params


def test_a_padded_minibatch_updates_as_its_rows_one_at_a_time(folder, lm):
    """One micro-batch of all the rows (left-padded) against one row per micro-batch (no
    padding): the same loss and the same gradients, policy and reference passes alike."""
    chunk = [Completion(i, p, a, True, 0) for i, (p, a) in enumerate(zip(PROMPTS, ANSWERS))]
    policy = perturbed_policy(folder)
    config = SuperHFConfig()
    results = []
    for size in (len(chunk), 1):
        optimizer = KeepGradients(policy.trainable_parameters())
        ce, kl = optimise_step(policy, chunk, config, optimizer, None, MicroBatch(size))
        results.append((ce, kl, [p.grad.clone() for p in policy.trainable_parameters()]))
    (ce_pad, kl_pad, grads_pad), (ce_one, kl_one, grads_one) = results
    assert kl_one > 0.01
    assert ce_pad == pytest.approx(ce_one, rel=1e-4) and kl_pad == pytest.approx(kl_one, rel=1e-4)
    for padded, single in zip(grads_pad, grads_one):
        torch.testing.assert_close(padded, single, rtol=1e-3, atol=1e-5)


def test_reference_logits_of_a_padded_batch_are_each_row_alone(folder):
    policy = perturbed_policy(folder)
    made = [Completion(i, p, a, True, 0) for i, (p, a) in enumerate(zip(PROMPTS, ANSWERS))]
    batch = completion_batch(policy.lm.tokenizer, made)
    padded = policy.reference_logits(batch)
    for i, c in enumerate(made):
        alone = policy.reference_logits(completion_batch(policy.lm.tokenizer, [c]))[0]
        # both hold the logits of the last positions only, those that predict the answer (which
        # ends every row); the padded batch keeps as many as its longest answer needs
        assert padded.shape[1] >= len(alone) and padded.shape[1] == batch.predicting
        torch.testing.assert_close(padded[i, -len(alone):], alone, rtol=1e-4, atol=1e-4)


def test_rewards_of_a_padded_batch_are_those_scored_one_at_a_time(reward_model):
    featurizer, head = reward_model
    items = list(zip(PROMPTS, ANSWERS))
    together = head(featurizer.features(items, batch_size=len(items)))
    alone = head(featurizer.features(items, batch_size=1))
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- a whole iteration

def test_one_superhf_iteration_runs_with_a_finite_loss(folder, reward_model):
    config = SuperHFConfig(prompts_per_iteration=2, superbatch_size=2, minibatch_size=2, max_new_tokens=8)
    policy = build_policy(folder, config, device="cpu")
    featurizer, head = reward_model

    def reward_fn(prompts, completions):
        with torch.no_grad():
            return head(featurizer.features(list(zip(prompts, completions)))).tolist()

    before = [p.detach().clone() for p in policy.trainable_parameters()]
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    metrics = superhf_iteration(policy, reward_fn, PROMPTS[:2], config, optimizer, scheduler, 0)
    assert math.isfinite(metrics["loss"]) and metrics["ce"] > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.trainable_parameters()))


def test_lora_targets_an_architecture_peft_has_no_default_for():
    def of(kind, **settings):
        return lora_targets(SimpleNamespace(config=SimpleNamespace(model_type=kind)), SuperHFConfig(**settings))

    assert of("llama") is None  # peft's own default (q_proj, v_proj)
    assert of("phi3") == ["qkv_proj"]  # peft has none: its fused attention projection
    assert of("an-architecture-from-next-year") == "all-linear"
    assert of("phi3", lora_targets=("o_proj",)) == ["o_proj"]  # the run's choice first
