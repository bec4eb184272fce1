"""Choosing the next pairs to rate: the uncertainty maths on hand-made tensors, ranking with
spread across prompts, the queue and its answers, and agreement over time."""

import pytest
import torch

from core.journey.answering import agreement, answer_pair
from core.journey.pair_queue import Candidate, candidate_pairs, open_pairs, rank_pairs
from core.errors import InputError, NotFoundError
from core.sampling.generation import SamplingSettings
from core.journey.rating import next_pairs
from core.store.ratings import add_ratings
from core.reward.versions import RewardScorer, train_reward_model
from core.reward.model import RewardHead
from core.reward.trainer import laplace_covariance, pair_uncertainty
from synthetic import banana_ratings


def test_a_pair_of_alike_answers_teaches_nothing_and_an_unexplored_one_most():
    head = RewardHead(torch.zeros(2), torch.ones(2))
    head.linear.weight.data = torch.tensor([[4.0, 0.0]])  # it has learned: the first feature is liked
    # Trained on differences along the first feature only: the second is unexplored.
    f_c = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])
    f_r = torch.zeros(3, 2)
    cov = laplace_covariance(head, f_c, f_r, l2=0.1)
    assert cov[1, 1] > cov[0, 0]  # less is known along the unexplored direction
    f_a = torch.tensor([[0.3, 0.3], [0.0, 1.0], [3.0, 0.0]])
    f_b = torch.tensor([[0.3, 0.3], [0.0, 0.0], [0.0, 0.0]])
    guess, info = pair_uncertainty(head, cov, f_a, f_b)
    assert guess[0] == pytest.approx(0.5) and info[0] == pytest.approx(0.0, abs=1e-6)  # identical answers
    assert guess[1] == pytest.approx(0.5, abs=1e-6)  # the model cannot tell...
    assert info[1] > info[2] > 0  # ...and would learn most from it; the clear pair teaches less
    assert guess[2] > 0.9


def test_ranking_takes_the_lowest_keys_spread_across_prompts():
    cands = [Candidate("p1", "a", "b"), Candidate("p1", "a", "c"), Candidate("p2", "a", "b"), Candidate("p3", "x", "y")]
    chosen = rank_pairs(cands, 2, keys=[0.0, 0.1, 0.5, 0.9], guesses=[0.5, 0.6, 0.7, 0.8])
    assert [(c.prompt, c.b, g) for c, g in chosen] == [("p1", "b", 0.5), ("p2", "b", 0.7)]
    more = rank_pairs(cands, 4, keys=[0.0, 0.1, 0.5, 0.9], per_prompt=2)
    assert len(more) == 4


def test_without_a_reward_model_the_most_different_answers_come_first():
    cands = [Candidate("p", "the cat sat", "the cat sat down"), Candidate("p", "the cat sat", "rain in spain")]
    (chosen, guess), = rank_pairs(cands, 1)
    assert chosen.b == "rain in spain" and guess is None


def tiny_settings():
    return SamplingSettings(max_new_tokens=6, seed=0)


def test_next_pairs_generate_answers_queue_them_and_take_answers(store, tiny_model):
    prompts = [(None, f"Prompt {i}?") for i in range(3)]
    pairs = next_pairs(store, prompts, 3, candidates=3, settings=tiny_settings())
    assert len(pairs) == 3 and {p["prompt"] for p in pairs} == {t for _, t in prompts}
    assert all(p["reason"] == "diverse" and p["guess"] is None for p in pairs)
    assert store.count("generations") == 9
    assert next_pairs(store, prompts, 3) == pairs  # unanswered pairs are shown again, not new ones

    result = answer_pair(store, pairs[0]["id"], "b")
    rating = store.one("SELECT * FROM ratings WHERE id = ?", [result["rating"]])
    assert (rating["chosen"], rating["rejected"]) == (pairs[0]["b"], pairs[0]["a"])
    assert (rating["generation_a"], rating["generation_b"]) == (pairs[0]["generation_a"], pairs[0]["generation_b"])
    assert len(open_pairs(store)) == 2
    before = store.count("ratings")
    with pytest.raises(InputError, match="rated already"):
        answer_pair(store, pairs[0]["id"], "a")
    with pytest.raises(NotFoundError, match="No pair with id 999"):
        answer_pair(store, 999, "a")
    with pytest.raises(InputError, match="one of a, b, tie, skip"):
        answer_pair(store, pairs[1]["id"], "maybe")
    assert store.count("ratings") == before
    rated = (pairs[0]["a"], pairs[0]["b"])
    assert not any({c.a, c.b} == set(rated) for c in candidate_pairs(store, [pairs[0]["prompt"]]))


def test_with_a_reward_model_the_pairs_it_can_learn_most_from_come_first(store, tiny_model):
    add_ratings(store, banana_ratings(30))
    train_reward_model(store)
    prompts = [(None, f"Prompt {i}?") for i in range(4)]
    pairs = next_pairs(store, prompts, 4, candidates=4, settings=tiny_settings())
    assert all(p["reason"] == "uncertain" and 0 <= p["guess"] <= 1 for p in pairs)
    # Each prompt's chosen pair is the one of its candidates the model would learn most from.
    scorer = RewardScorer.load(store, "reward")
    for p in pairs:
        shown = (p["a"], p["b"])
        others = store.all("SELECT DISTINCT completion FROM generations WHERE prompt = ?", [p["prompt"]])
        texts = [o["completion"] for o in others if o["completion"].strip()]
        all_pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1:]]
        _, info = scorer.judge_pairs([p["prompt"]] * len(all_pairs), [a for a, _ in all_pairs],
                                     [b for _, b in all_pairs])
        best = all_pairs[max(range(len(all_pairs)), key=lambda i: info[i])]
        assert set(best) == set(shown)

    answer_pair(store, pairs[0]["id"], "a")
    answer_pair(store, pairs[1]["id"], "b")
    answer_pair(store, pairs[2]["id"], "tie")
    stats = agreement(store)
    assert stats["answered"] == 2  # a tie says nothing about agreement
    expected = [(pairs[0]["guess"] > 0.5), (pairs[1]["guess"] <= 0.5)]
    assert stats["history"] == expected
