"""Reward models: the loss on hand-made tensors, pairs from ratings, the held-out split,
training both modes on the tiny model with a synthetic preference, scoring, and every
refusal."""

import json
import math
import random
import shutil

import pytest
import torch

from core.errors import InputError, ModelError, NotFoundError
from core.store.ratings import add_ratings, pair, score
from core.reward.versions import RewardScorer, find_reward_model, list_reward_models, train_reward_model
from core.reward.pairs import MIN_PAIRS_FOR_ACCURACY, pairs_from_ratings, split_pairs
from core.reward.model import RewardSettings, bradley_terry_loss
from synthetic import answer, banana_ratings

# ---------------------------------------------------------------- the loss and the data

def test_bradley_terry_loss_on_hand_made_rewards():
    loss = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    chosen = torch.tensor([0.5], requires_grad=True)
    bradley_terry_loss(chosen, torch.tensor([1.0])).backward()
    assert chosen.grad.item() < 0  # descending the loss raises the chosen answer's reward
    assert bradley_terry_loss(torch.tensor([9.0]), torch.tensor([-9.0])).item() < 1e-6


def test_pairs_come_from_wins_and_from_scores_within_a_prompt(store):
    add_ratings(store, [
        pair("p1", "good", "bad"),
        pair("p1", "x", "y", "tie"), pair("p1", "x", "z", "skip"),  # say nothing of which is better
        score("p2", "five", 5), score("p2", "three", 3), score("p2", "three too", 3),
        score("p3", "alone", 4),  # one answer: nothing to compare
        score("p4", "four", 4), score("p4", "also four", 4),  # equal: no preference
    ])
    pairs = {(p.prompt, p.chosen, p.rejected) for p in pairs_from_ratings(store)}
    assert pairs == {("p1", "good", "bad"), ("p2", "five", "three"), ("p2", "five", "three too")}


@pytest.mark.parametrize("rows, message", [
    ([], "no ratings yet"),
    ([pair("p", "a", "b", "tie"), pair("p", "a", "c", "skip")], "all ties or skips"),
    ([score("p", "a", 5), score("q", "b", 1)], "two answers with different scores"),
])
def test_ratings_that_teach_nothing_get_a_clear_message(store, tiny_model, rows, message):
    if rows:
        add_ratings(store, rows)
    with pytest.raises(InputError, match=message):
        train_reward_model(store)
    assert store.count("reward_models") == 0


def test_the_held_out_split_keeps_whole_prompts_apart_and_is_fixed(store):
    add_ratings(store, banana_ratings(50))
    pairs = pairs_from_ratings(store)
    train, heldout = split_pairs(pairs, seed=0)
    assert len(train) + len(heldout) == 50
    assert 0.1 * 50 <= len(heldout) <= 0.3 * 50
    assert not {p.prompt for p in train} & {p.prompt for p in heldout}
    assert split_pairs(pairs, seed=0) == (train, heldout)
    assert split_pairs(pairs, seed=1) != (train, heldout)
    few = pairs[:MIN_PAIRS_FOR_ACCURACY - 1]
    assert split_pairs(few) == (few, [])


# ---------------------------------------------------------------- training and scoring

@pytest.mark.parametrize("mode", ["fast", "lora"])
def test_a_reward_model_learns_a_synthetic_preference(store, tiny_model, mode):
    add_ratings(store, banana_ratings(80))
    row = train_reward_model(store, settings=RewardSettings(mode=mode, epochs=2))
    assert row["accuracy"] >= 0.9 and row["heldout_pairs"] >= 10
    assert row["version"] == 1 and row["train_pairs"] + row["heldout_pairs"] == 80
    folder = store.workspace.reward_models_dir / "reward-v1"
    assert (folder / "head.safetensors").is_file() and (folder / "reward.json").is_file()
    assert (folder / "adapter" / "adapter_model.safetensors").is_file() == (mode == "lora")
    stored = find_reward_model(store, "reward")
    assert len(json.loads(stored["data"])["ratings"]) == 80
    assert json.loads(stored["settings"])["mode"] == mode

    scorer = RewardScorer.load(store, "reward")
    rng = random.Random(99)  # answers it has never seen
    liked = scorer.score(["A new question?"] * 10, [answer(rng, True) for _ in range(10)])
    plain = scorer.score(["A new question?"] * 10, [answer(rng, False) for _ in range(10)])
    assert sum(liked) / 10 > sum(plain) / 10
    assert abs(sum(scorer.readable(r) for r in liked + plain) / 20) < 3  # on the training answers' scale


def test_retraining_adds_a_version_and_reuses_cached_features(store, tiny_model):
    add_ratings(store, banana_ratings(30))
    train_reward_model(store, name="taste")
    cache = store.workspace.cache_dir / "features.db"
    assert cache.is_file()
    add_ratings(store, banana_ratings(10, seed=5))
    second = train_reward_model(store, name="taste")
    assert second["version"] == 2 and second["pairs"] == 40
    assert [(r["name"], r["version"]) for r in list_reward_models(store)] == [("taste", 1), ("taste", 2)]
    assert find_reward_model(store, "taste")["version"] == 2
    assert find_reward_model(store, "taste", 1)["version"] == 1


def test_too_few_ratings_give_a_message_instead_of_an_accuracy(store, tiny_model):
    add_ratings(store, banana_ratings(8))
    row = train_reward_model(store)
    assert row["accuracy"] is None and row["heldout_pairs"] == 0
    assert "at least 20" in row["accuracy_note"]


def test_a_reward_model_whose_backbone_is_gone_says_so(store, tiny_model_dir, tmp_path):
    from core.models.loading import import_model

    folder = tmp_path / "base"
    shutil.copytree(tiny_model_dir, folder)
    import_model(store, folder, name="base")
    add_ratings(store, banana_ratings(10))
    train_reward_model(store, base="base")
    shutil.rmtree(folder)
    with pytest.raises(ModelError, match="backbone is missing"):
        RewardScorer.load(store, "reward")


def test_unknown_names_are_refused(store, tiny_model):
    with pytest.raises(NotFoundError, match="No reward model named 'nope'"):
        RewardScorer.load(store, "nope")
    add_ratings(store, banana_ratings(5))
    with pytest.raises(NotFoundError, match="No model named 'ghost'"):
        train_reward_model(store, base="ghost")


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="'fast' or 'lora'"):
        RewardSettings(mode="slow")
    with pytest.raises(InputError, match="steps"):
        RewardSettings(steps=0)
