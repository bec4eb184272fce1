"""The training data exactly as sampled, on hand-made cases and the tiny random model: the
token ids the model was fed and sampled (not a re-encoding of the stripped text), the model's
own end-of-turn token only after answers that ended their turn, BOS where the tokenizer uses
one, and a reference pass without dropout."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from core.models.loading import load_model_folder
from core.sampling.decoder import Decoded
from core.sampling.generation import (Completion, SamplingSettings, _completion, bos_ids, encode_prompt,
                                      end_of_turn_id, format_prompt, sample, stop_token_ids, tokens_of_prefix)
from core.superhf.config import SuperHFConfig
from core.superhf.policy import build_policy
from core.superhf.step import completion_batch, training_ids

PROMPTS = ["Tell me about the sea.", "What is two and two?", "Name a colour."]


def tokenizer_of(folder: Path, **kwargs):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True, **kwargs)


def model_folder(folder: Path, tokenizer, **config) -> Path:
    """A tiny random LLaMA (vocabulary 1024) beside ``tokenizer``, saved as a model folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    settings = dict(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                    bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(LlamaConfig(**{**settings, **config})).save_pretrained(folder, safe_serialization=True)
    return folder


def rows(batch) -> list[list[int]]:
    """The batch's rows without their left padding."""
    return [ids[mask.bool()].tolist() for ids, mask in zip(batch.input_ids, batch.attention_mask)]


def answer_rows(batch) -> list[list[int]]:
    return [ids[mask.bool()].tolist() for ids, mask in zip(batch.input_ids, batch.completion_mask)]


# ---------------------------------------------------------------- a. token ids kept from sampling

def test_sampled_answers_keep_the_ids_the_model_was_fed_and_sampled(tiny_model_dir):
    lm = load_model_folder(tiny_model_dir)
    answers = sample(lm, PROMPTS, 3, SamplingSettings(max_new_tokens=16, seed=1, precision="float32"))
    tok = lm.tokenizer
    for a in answers:
        assert list(a.prompt_ids) == encode_prompt(tok, a.prompt)
        assert tok.decode(list(a.token_ids), skip_special_tokens=True).strip() == a.text
        if not a.turn_cut:
            assert len(a.token_ids) == a.new_tokens  # every sampled token, the stop token left out
    batch = completion_batch(tok, answers)
    eot = end_of_turn_id(tok)
    assert rows(batch) == [list(a.prompt_ids) + list(a.token_ids) + [eot] * a.ends_turn for a in answers]


def test_the_training_batch_is_what_the_model_sampled_token_by_token(tiny_model_dir, tmp_path):
    """Greedy answers: at every answer position of the training batch, the target is the
    model's most likely next token given exactly the batch's prefix, so prompt and answer
    ids are the ones sampling fed and drew (a re-encoding of the stripped text is not)."""
    # Larger random weights than the fixture's: peaked logits, so greedy answers are varied text.
    lm = load_model_folder(model_folder(tmp_path / "peaked", tokenizer_of(tiny_model_dir), initializer_range=0.3))
    answers = sample(lm, PROMPTS, 1, SamplingSettings(max_new_tokens=12, temperature=0, precision="float32"))
    assert all(a.text for a in answers)
    assert any(list(a.token_ids) != lm.tokenizer(a.text, add_special_tokens=False)["input_ids"] for a in answers)
    for a in answers:
        batch = completion_batch(lm.tokenizer, [a])
        with torch.no_grad():
            logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[0, :-1]
        targets = batch.input_ids[0, 1:]
        n = len(a.token_ids)
        start = len(a.prompt_ids) - 1  # the last prompt token predicts the first answer token
        for t in range(start, start + n):
            chosen = logits[t, targets[t]]
            assert chosen >= logits[t].max() - 1e-4, (a.text, t - start)


def test_an_answer_cut_at_an_invented_turn_keeps_the_tokens_before_it(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    sampled = tok(" Hello there, friend.\nUser: and you?", add_special_tokens=False)["input_ids"]
    lm = SimpleNamespace(tokenizer=tok)
    c = _completion(lm, ["Hi"], [[5, 6, 7]], 0, Decoded(sampled, finished=False))
    assert c.text == "Hello there, friend."
    assert c.turn_cut and not c.finished and c.ends_turn  # it stopped answering there
    assert list(c.token_ids) == sampled[:len(c.token_ids)]  # a prefix of what was sampled
    assert tok.decode(list(c.token_ids)) == " Hello there, friend."  # the newline before the turn left out
    assert c.prompt_ids == (5, 6, 7) and c.new_tokens == len(sampled)
    batch = completion_batch(tok, [c])
    assert answer_rows(batch) == [list(c.token_ids) + [end_of_turn_id(tok)]]

    plain = _completion(lm, ["Hi"], [[5]], 0, Decoded(sampled[:3], finished=True))
    assert not plain.turn_cut and list(plain.token_ids) == sampled[:3]


def test_a_token_across_the_cut_is_split_there(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    sampled = tok(" Hello world", add_special_tokens=False)["input_ids"]
    ids = tokens_of_prefix(tok, sampled, " Hello wor")
    assert tok.decode(ids) == " Hello wor"
    assert ids[:1] == sampled[:1]  # the tokens before the cut as sampled
    assert tokens_of_prefix(tok, sampled, " Hello world") == sampled
    assert tokens_of_prefix(tok, sampled, "") == []


def test_answers_given_as_text_alone_are_encoded_after_their_prompt(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    prompt_ids, answer_ids = training_ids(tok, Completion(0, "Hi", "Hello there.", True, 0))
    assert prompt_ids == encode_prompt(tok, "Hi")
    assert answer_ids == tok("Hello there.", add_special_tokens=False)["input_ids"]  # the template ends in \n

    tok.chat_template = None  # "Assistant:" then the answer: the model writes the space itself
    _, answer_ids = training_ids(tok, Completion(0, "Hi", "Hello there.", True, 0))
    assert answer_ids == tok(" Hello there.", add_special_tokens=False)["input_ids"]


# ---------------------------------------------------------------- b. the end-of-turn token, where the turn ended

def test_end_of_turn_only_after_answers_that_ended_their_turn(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    made = [Completion(0, "p", "stopped", True, 2, (9, 8), (30, 31)),
            Completion(0, "p", "cut at the limit", False, 2, (9, 8), (40, 41)),
            Completion(0, "p", "turn invented", False, 2, (9, 8), (50, 51), turn_cut=True)]
    batch = completion_batch(tok, made)
    assert answer_rows(batch) == [[30, 31, eot], [40, 41], [50, 51, eot]]
    assert rows(batch) == [[9, 8, 30, 31, eot], [9, 8, 40, 41], [9, 8, 50, 51, eot]]


GEMMA = ("{{ bos_token }}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
         "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
PHI3 = ("{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<|end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
LLAMA3 = ("{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'"
          " + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
LLAMA2 = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
          "{{ '[INST] ' + m['content'] + ' [/INST]' }}{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}")


@pytest.mark.parametrize("template, specials, expected", [
    (None, [], "<|im_end|>"),  # the starter's own ChatML template
    (GEMMA, ["<start_of_turn>", "<end_of_turn>"], "<end_of_turn>"),
    (PHI3, ["<|user|>", "<|assistant|>", "<|end|>"], "<|end|>"),
    (LLAMA3, ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], "<|eot_id|>"),
    (LLAMA2, [], "<|endoftext|>"),  # the reply closed by EOS (here <|endoftext|>, set below)
])
def test_the_end_of_turn_token_is_the_one_the_template_closes_replies_with(template, specials, expected,
                                                                          tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    tok.add_special_tokens({"additional_special_tokens": specials})
    tok.eos_token = "<|endoftext|>"  # unlike the starter: EOS is not the turn's end for most of these
    if template is not None:
        tok.chat_template = template
    assert end_of_turn_id(tok) == tok.convert_tokens_to_ids(expected)
    lm = SimpleNamespace(tokenizer=tok, model=SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=None)))
    assert end_of_turn_id(tok) in stop_token_ids(lm)  # sampling stops there too


def test_without_a_chat_template_the_turn_ends_with_eos(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    tok.chat_template = None
    assert end_of_turn_id(tok) == tok.eos_token_id
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"  # no marker after replies
    assert end_of_turn_id(tok) == tok.eos_token_id


# ---------------------------------------------------------------- c. BOS where the tokenizer uses one

def test_bos_leads_prompts_where_the_tokenizer_uses_one_and_only_once(tiny_model_dir):
    plain = tokenizer_of(tiny_model_dir)
    assert bos_ids(plain) == []  # the starter's tokenizer adds none
    assert encode_prompt(plain, "Hi") == plain(format_prompt(plain, "Hi"), add_special_tokens=False)["input_ids"]

    tok = tokenizer_of(tiny_model_dir, add_bos_token=True)
    bos = tok.bos_token_id
    assert bos_ids(tok) == [bos]
    tok.chat_template = None  # the fallback template writes no BOS: it is added
    ids = encode_prompt(tok, "Hi")
    assert ids[0] == bos and ids[1] != bos and ids[1:] == tok(format_prompt(tok, "Hi"), add_special_tokens=False)[
        "input_ids"]
    tok.chat_template = GEMMA  # a template that writes the BOS itself: not doubled
    ids = encode_prompt(tok, "Hi")
    assert ids[0] == bos and ids[1] != bos


def test_bos_is_fed_in_sampling_and_training_alike(tiny_model_dir, tmp_path):
    tok = tokenizer_of(tiny_model_dir, add_bos_token=True)
    tok.chat_template = None
    lm = load_model_folder(model_folder(tmp_path / "bos-model", tok))
    assert bos_ids(lm.tokenizer) == [lm.tokenizer.bos_token_id] and not lm.tokenizer.chat_template
    answers = sample(lm, PROMPTS[:2], 2, SamplingSettings(max_new_tokens=8, seed=3))
    bos = lm.tokenizer.bos_token_id
    for a in answers:
        assert a.prompt_ids[0] == bos and a.prompt_ids[1] != bos
    text_only = [Completion(0, PROMPTS[0], "Some answer.", True, 0)]
    for row in rows(completion_batch(lm.tokenizer, list(answers) + text_only)):
        assert row[0] == bos and row[1] != bos


# ---------------------------------------------------------------- d. the reference pass without dropout

def test_the_lora_reference_runs_without_dropout_and_leaves_the_modes_as_they_were(tiny_model_dir, tmp_path):
    folder = model_folder(tmp_path / "dropout-model", tokenizer_of(tiny_model_dir), attention_dropout=0.5)
    policy = build_policy(folder, SuperHFConfig(lora_dropout=0.5))
    base = load_model_folder(folder)  # in eval mode: no dropout
    batch = completion_batch(policy.lm.tokenizer, [Completion(0, "Hi", "Hello there.", True, 0)])
    policy.model.train()  # as while updating
    torch.manual_seed(0)
    with torch.no_grad():
        expected = base.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        noisy = policy.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        assert not torch.allclose(noisy, policy.model(input_ids=batch.input_ids,
                                                      attention_mask=batch.attention_mask).logits)  # dropout is on
    first, second = policy.reference_logits(batch), policy.reference_logits(batch)
    assert first.shape[1] == batch.predicting < batch.input_ids.shape[1]  # the answer's positions only
    assert torch.allclose(first, expected[:, -first.shape[1]:], atol=1e-5) and torch.equal(first, second)
    assert all(m.training for m in policy.model.modules())  # train mode restored everywhere
