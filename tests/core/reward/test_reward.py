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
from core.reward.versions import RewardScorer, train_reward_model
from core.store.reward_models import find_reward_model, list_reward_models
from core.reward.fit import group_folds
from core.reward.pairs import COMPARE_SOURCE, WRITTEN_SOURCE, WRITTEN_WEIGHT, pairs_from_ratings
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


def test_pairs_come_from_wins_ties_and_scores_within_a_prompt(store):
    add_ratings(store, [
        pair("p1", "good", "bad"),
        pair("p1", "x", "y", "tie"), pair("p1", "x", "z", "skip"),  # a tie: equally good; a skip says nothing
        score("p2", "five", 5), score("p2", "three", 3), score("p2", "three too", 3),
        score("p3", "alone", 4),  # one answer: nothing to compare
        score("p4", "four", 4), score("p4", "also four", 4),  # equal: no preference
    ])
    pairs = {(p.prompt, p.chosen, p.rejected, p.target) for p in pairs_from_ratings(store)}
    assert pairs == {("p1", "good", "bad", 1.0), ("p1", "x", "y", 0.5), ("p2", "five", "three", 1.0),
                     ("p2", "five", "three too", 1.0)}
    assert {(p.chosen, p.rejected) for p in pairs_from_ratings(store, ties=False)} == {
        ("good", "bad"), ("five", "three"), ("five", "three too")}


def test_blind_comparisons_never_train_a_reward_model_and_written_answers_count(store):
    add_ratings(store, [pair("p1", "good", "bad")])
    add_ratings(store, [pair("eval", "tuned answer", "base answer")], source=COMPARE_SOURCE)
    add_ratings(store, [pair("p2", "my own better answer", "shown answer")], source=WRITTEN_SOURCE)
    pairs = pairs_from_ratings(store)
    assert {(p.prompt, p.chosen, p.weight) for p in pairs} == {("p1", "good", 1.0),
                                                               ("p2", "my own better answer", WRITTEN_WEIGHT)}


def test_only_blind_comparisons_teach_nothing_and_say_why(store):
    add_ratings(store, [pair("eval", "tuned answer", "base answer")], source=COMPARE_SOURCE)
    with pytest.raises(InputError, match="blind comparisons"):
        pairs_from_ratings(store)


def test_a_compare_judgement_does_not_reach_the_next_reward_model(store, tiny_model):
    add_ratings(store, banana_ratings(24))
    add_ratings(store, banana_ratings(6, seed=9), source=COMPARE_SOURCE)
    row = train_reward_model(store)
    compared = {r["id"] for r in store.all("SELECT id FROM ratings WHERE source = ?", [COMPARE_SOURCE])}
    used = set(json.loads(find_reward_model(store, "reward")["data"])["ratings"])
    assert row["pairs"] == 24 and len(used) == 24 and not used & compared


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


def test_folds_keep_whole_prompts_together_are_balanced_and_fixed():
    groups = [f"p{i % 13}" for i in range(60)]
    folds = group_folds(groups, 5, seed=0)
    assert all(len({f for g2, f in zip(groups, folds) if g2 == g}) == 1 for g in set(groups))
    sizes = [folds.count(f) for f in range(5)]
    assert max(sizes) - min(sizes) <= 5
    assert group_folds(groups, 5, seed=0) == folds and group_folds(groups, 5, seed=1) != folds
    assert sorted(set(group_folds(["a", "a", "b"], 5))) == [0, 1]  # no more folds than prompts


# ---------------------------------------------------------------- training and scoring

@pytest.mark.parametrize("mode", ["fast", "lora"])
def test_a_reward_model_learns_a_synthetic_preference(store, tiny_model, mode):
    add_ratings(store, banana_ratings(80))
    row = train_reward_model(store, settings=RewardSettings(mode=mode, epochs=2))
    assert row["accuracy"] >= 0.9 and row["heldout_pairs"] >= 10
    assert row["accuracy_low"] < row["accuracy"] <= row["accuracy_high"] and row["accuracy_low"] > 0.5
    assert row["accuracy_pairs"] == row["heldout_pairs"]
    if mode == "fast":  # every pair judged by a head that never saw its prompt; the final head sees all
        assert row["train_pairs"] == row["heldout_pairs"] == 80
        assert row["accuracy_method"] == "5-fold cross-validation by prompt"
    else:  # a fifth of the prompts held out
        assert row["train_pairs"] + row["heldout_pairs"] == 80
    assert row["version"] == 1
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
    assert row["accuracy"] is None and row["heldout_pairs"] == 0 and row["accuracy_low"] is None
    assert "at least 20" in row["accuracy_note"]


def test_ratings_on_one_prompt_get_no_accuracy_rather_than_a_split_that_mixes_prompts(store, tiny_model):
    add_ratings(store, [{**r, "prompt": "The one question."} for r in banana_ratings(30)])
    row = train_reward_model(store)
    assert row["accuracy"] is None and row["heldout_pairs"] == 0 and row["train_pairs"] == 30
    assert "one prompt" in row["accuracy_note"]


def test_a_reward_model_whose_backbone_is_gone_says_so(store, tiny_model_dir, tmp_path):
    from core.models.importing import import_model

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


def test_a_stored_reward_model_of_the_earlier_features_still_scores(store, tiny_model):
    from safetensors.torch import load_file, save_file

    from core.reward.model import LEGACY_POOLING

    add_ratings(store, banana_ratings(30))
    row = train_reward_model(store)
    folder = store.workspace.reward_models_dir / "reward-v1"
    tensors = load_file(str(folder / "head.safetensors"))
    half = tensors["weight"].shape[1] // 2  # as it was: the answer-mean features alone
    save_file({"weight": tensors["weight"][:, :half].contiguous(), "bias": tensors["bias"],
               "mean": tensors["mean"][:half].contiguous(), "std": tensors["std"][:half].contiguous(),
               "covariance": tensors["covariance"][:half, :half].contiguous()}, str(folder / "head.safetensors"))
    config = json.loads((folder / "reward.json").read_text())
    config["pooling"] = LEGACY_POOLING
    (folder / "reward.json").write_text(json.dumps(config))
    scorer = RewardScorer.load(store, "reward")
    assert len(scorer.score(["Q?", "Q?"], ["a banana", "a cat"])) == 2
    assert row["version"] == 1
