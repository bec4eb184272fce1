"""The SuperHF objective on hand-made tensors: exact masks under left padding, EOS appended,
cross-entropy and KL(reference || policy) only where the completion is predicted."""

import math

import pytest
import torch

from core.metrics import distinct_n, self_bleu
from core.superhf.loss import build_batch, superhf_loss

EOS, PAD = 2, 0


def test_build_batch_left_pads_and_marks_completion_tokens_with_eos():
    batch = build_batch([[5, 6, 7], [8]], [[9], [10, 11]], EOS, PAD)
    assert batch.input_ids.tolist() == [[5, 6, 7, 9, 2], [0, 8, 10, 11, 2]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]]
    assert batch.completion_mask.tolist() == [[0, 0, 0, 1, 1], [0, 0, 1, 1, 1]]


def one_hot_logits(token_ids, vocab=12, strength=5.0):
    return torch.nn.functional.one_hot(torch.tensor(token_ids), vocab).float() * strength


def test_ce_counts_exactly_the_completion_targets():
    batch = build_batch([[5, 6, 7]], [[9]], EOS, PAD)  # ids 5 6 7 9 2; targets of positions 2, 3: 9, EOS
    logits = torch.zeros(1, 5, 12)  # uniform everywhere: every target costs log 12
    loss, ce, kl = superhf_loss(logits, logits.clone(), batch, kl_coefficient=0.35)
    assert ce.item() == pytest.approx(math.log(12))
    assert kl.item() == pytest.approx(0.0, abs=1e-7)  # policy equals reference
    assert loss.item() == pytest.approx(math.log(12))

    # Logits at prompt positions 0 and 1 predict prompt tokens: they must not count.
    changed = logits.clone()
    changed[0, :2] = torch.randn(2, 12) * 10
    assert superhf_loss(changed, changed, batch, 0.35)[1].item() == pytest.approx(math.log(12))
    # Position 2 (the last prompt token) predicts the completion's first token: it counts.
    changed = logits.clone()
    changed[0, 2, 9] = 10.0
    assert superhf_loss(changed, changed, batch, 0.35)[1].item() < math.log(12) - 1
    # The last position predicts nothing: it must not count either.
    changed = logits.clone()
    changed[0, 4] = torch.randn(12) * 10
    assert superhf_loss(changed, changed, batch, 0.35)[1].item() == pytest.approx(math.log(12))


def test_answer_weighting_gives_a_short_answer_the_weight_of_a_long_one():
    batch = build_batch([[5], [5]], [[9, 9, 9, 9, 9], []], EOS, PAD)  # 6 targets, and 1 (EOS alone)
    logits = torch.zeros(2, 7, 12)
    logits[0, :5, 9] = logits[0, 5, EOS] = 20.0  # the long answer costs almost nothing
    tokens = superhf_loss(logits, None, batch, 0.0)[1].item()
    answers = superhf_loss(logits, None, batch, 0.0, per_answer=True)[1].item()
    assert tokens == pytest.approx(math.log(12) / 7, rel=1e-3)  # the short one's log 12 over 7 tokens
    assert answers == pytest.approx(math.log(12) / 2, rel=1e-3)  # over 2 answers


def test_padding_positions_never_count():
    batch = build_batch([[5, 6, 7], [8]], [[9], [10]], EOS, PAD)
    logits = torch.zeros(2, 5, 12)
    base = superhf_loss(logits, logits, batch, 0.0)[1].item()
    logits[1, 0] = torch.randn(12) * 10  # row 1, position 0 is padding
    assert superhf_loss(logits, logits, batch, 0.0)[1].item() == pytest.approx(base)


def test_kl_is_reference_to_policy_over_the_full_vocabulary():
    batch = build_batch([[5]], [[]], EOS, PAD)  # ids 5, 2: one completion target (EOS) at position 0
    ref = torch.zeros(1, 2, 4)
    ref[0, 0] = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125]))
    pol = torch.zeros(1, 2, 4)
    pol[0, 0] = torch.log(torch.tensor([0.25, 0.25, 0.25, 0.25]))
    p = torch.tensor([0.5, 0.25, 0.125, 0.125])
    expected = (p * (p.log() - math.log(0.25))).sum().item()  # KL(ref || policy)
    _, ce, kl = superhf_loss(pol, ref, batch, kl_coefficient=1.0)
    assert kl.item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0
    loss, _, _ = superhf_loss(pol, ref, batch, kl_coefficient=2.0)
    assert loss.item() == pytest.approx(ce.item() + 2.0 * expected, rel=1e-5)


def test_the_kl_term_pulls_the_policy_back_towards_the_reference():
    batch = build_batch([[5]], [[3]], EOS, PAD)
    ref = torch.zeros(1, 3, 6)
    policy = torch.randn(1, 3, 6, requires_grad=True)
    loss, _, _ = superhf_loss(policy, ref, batch, kl_coefficient=1.0)
    loss.backward()
    stepped = (policy - 0.5 * policy.grad).detach()
    assert superhf_loss(stepped, ref, batch, 1.0)[2] < superhf_loss(policy.detach(), ref, batch, 1.0)[2]


def test_diversity_metrics_on_hand_made_texts():
    same = ["the cat sat on the mat"] * 3
    varied = ["the cat sat on the mat", "rain falls in spain", "open the window please"]
    assert distinct_n(varied, 2) == 1.0
    assert distinct_n(same, 2) == pytest.approx(5 / 15)
    assert self_bleu(same) == pytest.approx(1.0)
    assert self_bleu(varied) < 0.5
    assert self_bleu(["only one"]) == 0.0


def test_without_a_reference_the_loss_is_the_cross_entropy_alone():
    torch.manual_seed(0)
    batch = build_batch([[1, 2, 3]], [[4, 5, 6]], eos_id=9, pad_id=0)
    logits = torch.randn(1, batch.input_ids.shape[1], 12)
    with_kl = superhf_loss(logits, torch.randn_like(logits), batch, 0.35)
    loss, ce, kl = superhf_loss(logits, None, batch, 0.35)
    assert torch.allclose(loss, with_kl[1]) and torch.allclose(ce, with_kl[1]) and float(kl) == 0.0
    assert with_kl[0] > loss  # the KL term, when there is a reference, adds to it


def _tiny(kind: str):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if kind == "gpt2":  # absolute positions: the padded rows' position ids matter
        return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=64)).eval()
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1)).eval()


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_the_loss_on_the_trailing_logits_is_the_loss_on_all_of_them(kind):
    from core.superhf.loss import batch_logits

    model = _tiny(kind)
    # prompts of 6 and 2 tokens, answers of 2 (ended) and 3 (cut) in rows of 9: the first answer
    # token is at column 6 (from 0), so the last 4 positions predict every answer token
    batch = build_batch([[5, 6, 7, 8, 9, 10], [11, 12]], [[13, 14], [15, 16, 17]], EOS, PAD, [True, False])
    assert batch.input_ids.shape[1] == 9 and batch.predicting == 4
    trailing = batch_logits(model, batch)
    full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                 position_ids=batch.position_ids).logits
    assert trailing.shape[1] == 4
    assert torch.allclose(trailing, full[:, -4:], atol=1e-5)
    reference = full.detach() + torch.randn_like(full)
    cut = superhf_loss(trailing, reference[:, -4:], batch, 0.35)
    whole = superhf_loss(full, reference, batch, 0.35)
    for a, b in zip(cut, whole):
        assert a.item() == pytest.approx(b.item(), abs=1e-5)


def test_a_batch_whose_answers_start_at_its_first_column_needs_every_position():
    batch = build_batch([[]], [[5, 6]], EOS, PAD)  # no prompt at all: nothing to skip
    assert batch.predicting == batch.input_ids.shape[1] == 3
