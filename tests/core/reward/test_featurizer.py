"""The reward featuriser reads the right tokens: the mean over the answer's tokens, also when
prompt and answer pass its token limit (the prompt's start is dropped, never the answer's
end), with BOS where the tokenizer uses one, and features that do not depend on which other
texts share the batch."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from core.reward.model import Featurizer, pair_text

VOCAB = 1024


class Echo(nn.Module):
    """A stand-in backbone whose hidden state at each position is the one-hot of its token:
    a pooled feature is then the histogram of the tokens pooled."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, input_ids, attention_mask, position_ids=None, output_hidden_states=False):
        self.seen.append((input_ids.clone(), attention_mask.clone()))
        return SimpleNamespace(last_hidden_state=torch.nn.functional.one_hot(input_ids, VOCAB).float())


def mean_part(feats):  # the answer-mean half of the features; the other is the last token's state
    return feats[..., :VOCAB]


def tokenizer_of(folder, **kwargs):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True, **kwargs)


def histogram(ids) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(ids), VOCAB).float().mean(0)


def answer_ids(tok, prompt, answer):
    full = tok(pair_text(tok, prompt, answer), add_special_tokens=False)["input_ids"]
    return full[len(tok(pair_text(tok, prompt, ""), add_special_tokens=False)["input_ids"]):]


LONG_PROMPT = "Tell me everything about the sea and its creatures, " * 60  # past 512 tokens
ANSWER = "Whales sing, and the tide comes in twice a day."


@pytest.mark.parametrize("max_length", [512, 64])
def test_the_answer_tokens_are_pooled_even_past_the_token_limit(tiny_model_dir, max_length):
    tok = tokenizer_of(tiny_model_dir)
    featurizer = Featurizer(Echo(), tok, "cpu", max_length=max_length)
    items = [("Short question?", ANSWER), (LONG_PROMPT, ANSWER), (LONG_PROMPT, "")]
    feats = featurizer.forward(items)
    answer = answer_ids(tok, "Short question?", ANSWER)
    assert answer == answer_ids(tok, LONG_PROMPT, ANSWER) and len(answer) > 5
    assert torch.allclose(mean_part(feats[0]), histogram(answer))
    assert torch.allclose(mean_part(feats[1]), histogram(answer))  # all of the answer, nothing of the prompt
    assert torch.allclose(feats[1, VOCAB:], histogram(answer[-1:]))  # and the answer's last token
    ids, mask = featurizer.backbone.seen[-1]
    assert mask.sum(1).max() <= max_length
    row = ids[1][mask[1].bool()].tolist()
    assert row[-len(answer):] == answer  # the answer's end is kept...
    full = tok(pair_text(tok, LONG_PROMPT, ANSWER), add_special_tokens=False)["input_ids"]
    assert row == full[-len(row):]  # ...and the prompt loses its start
    # An empty answer still has a feature: the exchange's last token.
    assert torch.allclose(mean_part(feats[2]), histogram([ids[2, -1].item()]))


def test_an_answer_longer_than_the_limit_keeps_its_end(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir)
    featurizer = Featurizer(Echo(), tok, "cpu", max_length=16)
    long_answer = "The sea is wide and deep and old. " * 10
    feats = featurizer.forward([("Hi", long_answer)])
    answer = answer_ids(tok, "Hi", long_answer)
    assert torch.allclose(mean_part(feats[0]), histogram(answer[-16:]))


def test_bos_leads_every_exchange_where_the_tokenizer_uses_one(tiny_model_dir):
    tok = tokenizer_of(tiny_model_dir, add_bos_token=True)
    tok.chat_template = None
    featurizer = Featurizer(Echo(), tok, "cpu", max_length=32)
    feats = featurizer.forward([("Hi", ANSWER), (LONG_PROMPT, ANSWER)])
    ids, mask = featurizer.backbone.seen[-1]
    for i in range(2):
        row = ids[i][mask[i].bool()].tolist()
        assert row[0] == tok.bos_token_id and row[1] != tok.bos_token_id and len(row) <= 32
    assert torch.allclose(feats[0], feats[1])  # the same answer, pooled alike

    plain = Featurizer(Echo(), tokenizer_of(tiny_model_dir), "cpu")  # the starter's tokenizer adds no BOS
    plain.forward([("Hi", ANSWER)])
    ids, _ = plain.backbone.seen[-1]
    assert ids[0].tolist() == plain.tokenizer(pair_text(plain.tokenizer, "Hi", ANSWER), add_special_tokens=False)[
        "input_ids"]


def test_features_do_not_depend_on_the_other_texts_in_the_batch(tiny_model_dir):
    """Left padding must not shift positions: a model with learned absolute positions (GPT-2)
    gives a text the same feature alone as beside a longer one."""
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    backbone = GPT2Model(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256)).eval()
    featurizer = Featurizer(backbone, tokenizer_of(tiny_model_dir), "cpu", max_length=128)
    with torch.no_grad():
        alone = featurizer.forward([("Hi", "Yes.")])
        beside = featurizer.forward([("Hi", "Yes."), (LONG_PROMPT, ANSWER)])
    assert torch.allclose(alone[0], beside[0], atol=1e-5)


class Layered(nn.Module):
    """A stand-in backbone of four blocks whose block k adds k to the one-hot of each token,
    with a final norm that doubles: the features show which block each part was read from."""

    def __init__(self):
        super().__init__()
        self.norm = _Double()

    def forward(self, input_ids, attention_mask, position_ids=None, output_hidden_states=False):
        base = torch.nn.functional.one_hot(input_ids, VOCAB).float()
        states = tuple(base + k for k in range(5))  # the embeddings', then blocks 1..4
        return SimpleNamespace(last_hidden_state=self.norm(states[-1]), hidden_states=states)


class _Double(nn.Module):
    def forward(self, x):
        return 2 * x


def test_the_mean_is_read_past_the_middle_and_the_ending_at_the_top(tiny_model_dir):
    from core.reward.model import views

    tok = tokenizer_of(tiny_model_dir)
    feats = Featurizer(Layered(), tok, "cpu").forward([("Hi", ANSWER)])
    answer = answer_ids(tok, "Hi", ANSWER)
    block = round(4 * 0.6)  # MEAN_DEPTH of four blocks: the second... third
    assert torch.allclose(feats[0, :VOCAB], 2 * (histogram(answer) + block))  # normalised as the top is
    assert torch.allclose(feats[0, VOCAB:], 2 * (histogram(answer[-1:]) + 4))
    parts = views(feats.shape[1])
    assert [parts[k] for k in ("what", "ending", "both")] == [
        slice(0, VOCAB), slice(VOCAB, 2 * VOCAB), slice(0, 2 * VOCAB)]


def test_a_reward_model_trained_before_reads_its_own_features(tiny_model_dir):
    from core.reward.model import LEGACY_POOLING

    tok = tokenizer_of(tiny_model_dir)
    feats = Featurizer(Layered(), tok, "cpu", pooling=LEGACY_POOLING).forward([("Hi", ANSWER)])
    assert feats.shape == (1, VOCAB)  # the answer-mean of the top block alone, as it was
    assert torch.allclose(feats[0], 2 * (histogram(answer_ids(tok, "Hi", ANSWER)) + 4))
