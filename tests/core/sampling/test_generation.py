"""Sampling on the tiny model: chat template, seeds, left padding, stopping, stored rows,
cancellation and bad settings."""

import json

import pytest
import torch

from core.journey.answers import generate_answers
from core.errors import Cancelled, InputError
from core.sampling.generation import SamplingSettings, format_prompt, sample, stop_token_ids, strip_invented_turns
from core.models.importing import load_model
from core.progress import CancelToken

PROMPTS = ["Hello there", "Write a very long and detailed answer about the history of tea, please."]


@pytest.fixture
def lm(store, tiny_model):
    return load_model(store, tiny_model, device="cpu")


def test_prompts_are_wrapped_in_the_chat_template(lm):
    text = format_prompt(lm.tokenizer, "What is 2+2?")
    assert "<|im_start|>user\nWhat is 2+2?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_invented_turns_are_stripped():
    assert strip_invented_turns("Paris is the capital.\nUser: and Spain?\nAssistant: Madrid") == "Paris is the capital."
    assert strip_invented_turns("Fine.\n### Human: more") == "Fine."
    assert strip_invented_turns("  The user: a person who uses it.") == "The user: a person who uses it."
    assert strip_invented_turns("Plain answer. ") == "Plain answer."


def test_n_answers_per_prompt_in_prompt_order(lm):
    out = sample(lm, PROMPTS, 3, SamplingSettings(max_new_tokens=6, seed=1, batch_size=4))
    assert [c.prompt_index for c in out] == [0, 0, 0, 1, 1, 1]
    assert [c.prompt for c in out] == [PROMPTS[0]] * 3 + [PROMPTS[1]] * 3
    assert all(c.new_tokens <= 6 for c in out)


def test_the_same_seed_gives_the_same_answers(lm):
    settings = SamplingSettings(max_new_tokens=8, seed=7, batch_size=3)
    first = [c.text for c in sample(lm, PROMPTS, 2, settings)]
    again = [c.text for c in sample(lm, PROMPTS, 2, settings)]
    other = [c.text for c in sample(lm, PROMPTS, 2, SamplingSettings(max_new_tokens=8, seed=8, batch_size=3))]
    assert first == again
    assert first != other


def test_left_padding_does_not_change_an_answer(lm):
    # Near-greedy sampling: a short prompt padded beside a long one must be answered as alone.
    settings = SamplingSettings(max_new_tokens=8, temperature=1e-4, top_p=1.0, seed=0)
    alone = sample(lm, PROMPTS[:1], 1, settings)[0].text
    padded = sample(lm, PROMPTS, 1, settings)[0].text
    lengths = [len(lm.tokenizer(format_prompt(lm.tokenizer, p))["input_ids"]) for p in PROMPTS]
    assert lengths[0] < lengths[1]  # so the first is padded in the shared batch
    assert alone == padded


def test_sampling_stops_at_end_of_turn(lm):
    eos = lm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert eos in stop_token_ids(lm)

    def force_eos(_module, _inputs, logits):  # the model now always ends its turn at once
        logits[..., eos] += 1e4
        return logits

    handle = lm.model.lm_head.register_forward_hook(force_eos)
    try:
        out = sample(lm, PROMPTS, 2, SamplingSettings(max_new_tokens=8, seed=0))
    finally:
        handle.remove()
    assert all(c.finished and c.text == "" and c.new_tokens == 0 for c in out)
    unforced = sample(lm, PROMPTS, 2, SamplingSettings(max_new_tokens=8, seed=0))
    assert any(c.new_tokens > 0 for c in unforced)


def test_generated_answers_are_stored_with_their_settings(store, lm):
    rows = generate_answers(store, lm, [(None, p) for p in PROMPTS], 2,
                            SamplingSettings(max_new_tokens=5, batch_size=3))
    assert store.count("generations") == 4 == len(rows)
    stored = store.all("SELECT * FROM generations ORDER BY id")
    settings = json.loads(stored[0]["settings"])
    assert settings["max_new_tokens"] == 5 and settings["n"] == 2 and isinstance(settings["seed"], int)
    assert settings["device"] == "cpu"
    assert [r["prompt"] for r in stored] == [PROMPTS[0]] * 2 + [PROMPTS[1]] * 2


def test_cancelling_keeps_the_batches_already_done(store, lm):
    cancel = CancelToken()

    def on_progress(event):
        if event.done > 0:
            cancel.cancel()

    with pytest.raises(Cancelled):
        generate_answers(store, lm, [(None, p) for p in PROMPTS], 3,
                         SamplingSettings(max_new_tokens=4, batch_size=2), on_progress=on_progress, cancel=cancel)
    assert store.count("generations") == 2  # the first batch, stored before the cancel


@pytest.mark.parametrize("bad, message", [
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(temperature=-0.5), "temperature"),
    (dict(precision="float8"), "precision"),
    (dict(top_p=1.5), "top_p"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_settings_are_refused(bad, message):
    with pytest.raises(InputError, match=message):
        SamplingSettings(**bad)


def test_bad_requests_are_refused(lm):
    with pytest.raises(InputError, match="at least 1"):
        sample(lm, PROMPTS, 0)
    with pytest.raises(InputError, match="no prompts"):
        sample(lm, [], 1)
    with pytest.raises(InputError, match="passes the model's limit of 512"):
        sample(lm, ["word " * 600], 1)


def test_out_of_memory_while_sampling_halves_the_batch(lm, monkeypatch):
    import core.sampling.decoder

    real = core.sampling.decoder.decode
    sizes, notices = [], []

    def small_gpu(model, prompts, repeats, **kwargs):
        sizes.append(sum(repeats))
        if sum(repeats) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, prompts, repeats, **kwargs)

    monkeypatch.setattr(core.sampling.decoder, "decode", small_gpu)
    out = sample(lm, PROMPTS, 3, SamplingSettings(max_new_tokens=4, seed=0, batch_size=8),
                 on_progress=lambda e: notices.append(e.detail.get("notice")))
    assert len(out) == 6 and [c.prompt_index for c in out] == [0, 0, 0, 1, 1, 1]
    assert sizes[:3] == [6, 4, 2]  # 8 asked (6 jobs), then halved twice
    assert "batch halved to 1" not in " ".join(filter(None, notices))
    assert any(n and "batch halved to 2" in n for n in notices)

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("full")

    monkeypatch.setattr(core.sampling.decoder, "decode", no_memory)
    from core.errors import ModelError

    with pytest.raises(ModelError, match="Lower --max-new-tokens"):
        sample(lm, PROMPTS, 1, SamplingSettings(max_new_tokens=4, seed=0))
