"""Guided rating in the engine: "both bad" and "write a better answer" stored as ratings the
reward model learns from and undone as a whole, answers that ended marked, what counts
towards the rating goal, the history of ratings (filter, change, delete), the guidelines,
and the migration that links old ratings to their pairs."""

import sqlite_utils
import pytest

from core.errors import InputError, NotFoundError
from core.journey.answering import answer_pair, undo_pair
from core.journey.overview import ENOUGH_PAIRS, STALE_AFTER, rating_goal
from core.journey.pair_queue import candidate_pairs, open_pairs, queue_pairs, rank_pairs
from core.reward.pairs import pairs_from_ratings
from core.store.generations import add_generations
from core.store.migrations import MIGRATIONS
from core.store.rating_history import change_rating, list_ratings, said
from core.store.ratings import BOTH_BAD_SOURCE, COMPARE_SOURCE, WRITTEN_SOURCE, add_ratings, count_judgements, delete_rating, pair, score
from core.store.texts import GUIDELINES, MAX_CHARS, get_text, save_guidelines


def queue(store, prompt="What is tea?", answers=(("Tea is a drink.", 1), ("Tea tea tea tea", 0))):
    """Stored answers to ``prompt`` (text, ended) and every pair of them queued; the open pairs."""
    model = store.one("SELECT id FROM models")["id"]
    rows = [{"model_id": model, "prompt": prompt, "completion": text, "finished": ended, "new_tokens": 5,
             "settings": "{}", "created_at": "2026-12-01T00:00:00+00:00"} for text, ended in answers]
    add_generations(store, rows)
    return queue_pairs(store, [(c, None) for c in candidate_pairs(store, [prompt])], None)


def test_both_bad_scores_each_answer_1_and_undo_takes_both_back(store, tiny_model):
    (p,) = queue(store)
    assert p["a_finished"] + p["b_finished"] == 1  # the page can mark the answer that was cut off
    result = answer_pair(store, p["id"], "both-bad")
    rows = store.all("SELECT kind, completion, score, source, pair_id FROM ratings ORDER BY id")
    assert [(r["kind"], r["score"], r["source"], r["pair_id"]) for r in rows] == [("score", 1, BOTH_BAD_SOURCE, p["id"])] * 2
    assert {r["completion"] for r in rows} == {p["a"], p["b"]} and result["agreed"] is None
    assert open_pairs(store) == [] and store.one("SELECT choice FROM pair_queue")["choice"] == "both-bad"
    assert count_judgements(store) == 0  # alone they say nothing of which is better
    undo_pair(store, p["id"])
    assert store.count("ratings") == 0 and [q["id"] for q in open_pairs(store)] == [p["id"]]


def test_undo_keeps_an_identical_rating_given_before(store, tiny_model):
    (p,) = queue(store)
    add_ratings(store, [score(p["prompt"], p["a"], 1)], source="app")  # the same score, given on its own
    answer_pair(store, p["id"], "both-bad")
    assert store.count("ratings") == 2  # stored once, not twice
    undo_pair(store, p["id"])
    assert [(r["completion"], r["pair_id"]) for r in store.all("SELECT * FROM ratings")] == [(p["a"], None)]


def test_a_written_answer_is_preferred_to_both_answers_shown(store, tiny_model):
    (p,) = queue(store)
    answer_pair(store, p["id"], "write", better="  Tea is an infusion of leaves.  ")
    rows = store.all("SELECT chosen, rejected, outcome, source FROM ratings ORDER BY id")
    assert [(r["chosen"], r["rejected"], r["source"]) for r in rows] == [
        ("Tea is an infusion of leaves.", p["a"], WRITTEN_SOURCE), ("Tea is an infusion of leaves.", p["b"], WRITTEN_SOURCE)]
    learnt = pairs_from_ratings(store)
    assert {x.rejected for x in learnt} == {p["a"], p["b"]} and all(x.chosen.startswith("Tea is an") for x in learnt)
    assert count_judgements(store) == 2
    undo_pair(store, p["id"])
    assert store.count("ratings") == 0


@pytest.mark.parametrize("better, words", [("   ", "empty"), (None, "empty"), ("Tea is a drink.", "same as one shown"),
                                           ("x" * 9000, "keep it under")])
def test_a_written_answer_that_says_nothing_new_is_refused_and_nothing_stored(store, tiny_model, better, words):
    (p,) = queue(store)
    with pytest.raises(InputError, match=words):
        answer_pair(store, p["id"], "write", better=better)
    assert store.count("ratings") == 0 and len(open_pairs(store)) == 1


def test_text_goes_with_write_only_and_unknown_pairs_are_named(store, tiny_model):
    (p,) = queue(store)
    with pytest.raises(InputError, match="'write' only"):
        answer_pair(store, p["id"], "a", better="mine")
    with pytest.raises(NotFoundError):
        answer_pair(store, 999, "both-bad")
    with pytest.raises(InputError, match="no answer to take back"):
        undo_pair(store, p["id"])


def test_judgements_count_winners_and_scores_but_not_ties_skips_both_bad_or_comparisons(store):
    add_ratings(store, [pair("p", "a", "b"), pair("p", "c", "d", "tie"), pair("p", "e", "f", "skip"),
                        score("p", "a", 4), score("p", "b", 2)], source="app")
    add_ratings(store, [score("p", "x", 1)], source=BOTH_BAD_SOURCE)
    add_ratings(store, [pair("q", "a", "b")], source=COMPARE_SOURCE)
    assert count_judgements(store) == 3
    newest = store.one("SELECT max(id) AS n FROM ratings")["n"]
    add_ratings(store, [score("p", "c", 5)], source="app")
    assert count_judgements(store, after_id=newest) == 1


def test_answers_that_ended_are_marked_but_do_not_move_pairs_ahead(store, tiny_model):
    """Moving such pairs ahead skewed what the reward model learnt (see pair_queue.py): the
    most different answers still come first, whether or not they ended."""
    queued = queue(store, answers=(("Rocks fall slowly", 0), ("Tea is a drink, hot", 0), ("Birds sing at dawn.", 1),
                                   ("Tea is a drink.", 1)))
    assert [(p["a_finished"], p["b_finished"]) for p in queued] == [(0, 0), (0, 1), (0, 1), (0, 1), (0, 1), (1, 1)]
    with store.transaction() as db:
        db.execute("DELETE FROM pair_queue")  # candidates again
    (first, _), = rank_pairs(candidate_pairs(store, ["What is tea?"]), 1)
    assert {first.a, first.b} == {"Rocks fall slowly", "Tea is a drink, hot"}  # not the equally far pair that ended


def test_the_rating_goal_counts_towards_the_next_reward_model_worth_training():
    fresh = rating_goal({"judgements": 12, "reward_model": None})
    assert (fresh["done"], fresh["target"]) == (12, ENOUGH_PAIRS) and fresh["text"].startswith("12 of 20 ratings")
    unsure = {"new_ratings": 7, "better_than_chance": False, "more_ratings": 40}
    goal = rating_goal({"judgements": 50, "reward_model": unsure})
    assert goal["text"].startswith("7 of about 40 more ratings") and "enough" not in goal["text"]
    good = rating_goal({"judgements": 90, "reward_model": {**unsure, "better_than_chance": True, "new_ratings": 25}})
    assert (good["done"], good["target"]) == (25, STALE_AFTER) and "enough, train it" in good["text"]
    assert good["text"].startswith("20 of 20")  # never "25 of 20"


def test_the_history_filters_changes_folds_and_deletes(store):
    add_ratings(store, [pair("What is tea?", "A drink.", "Rocks.")], source="app")
    add_ratings(store, [pair("Why sky blue?", "Rayleigh.", "Because.", "tie"), score("Why sky blue?", "Rayleigh.", 3)],
                source="app")
    assert [r["kind"] for r in list_ratings(store)] == ["score", "pair", "pair"]  # newest first
    assert [r["prompt"] for r in list_ratings(store, "TEA drink")] == ["What is tea?"]
    assert [said(r) for r in list_ratings(store, kind="pair")] == ["a tie", "first is better"]
    tea = list_ratings(store, "tea")[0]
    assert change_rating(store, tea["id"], "b") == {"rating": tea["id"], "merged": False}
    changed = list_ratings(store, "tea")[0]
    assert (changed["a"], changed["b"], changed["outcome"]) == ("Rocks.", "A drink.", "chosen")
    scored = list_ratings(store, kind="score")[0]
    change_rating(store, scored["id"], "5")
    assert list_ratings(store, kind="score")[0]["score"] == 5
    tie = list_ratings(store, "sky", kind="pair")[0]
    add_ratings(store, [pair("Why sky blue?", "Rayleigh.", "Because.")], source="app")
    assert (tie["a"], tie["b"]) == ("Because.", "Rayleigh.")  # a tie's answers in a fixed order
    assert change_rating(store, tie["id"], "b")["merged"]  # now the same as the newer one: kept once
    assert len(list_ratings(store, "sky", kind="pair")) == 1
    delete_rating(store, scored["id"])
    assert list_ratings(store, kind="score") == []


@pytest.mark.parametrize("to, words", [("maybe", "changes to one of"), (7, "1 to 5")])
def test_a_change_that_makes_no_sense_is_refused_and_the_rating_kept(store, to, words):
    add_ratings(store, [pair("p", "a", "b"), score("p", "a", 4)], source="app")
    target = list_ratings(store, kind="pair" if to == "maybe" else "score")[0]
    with pytest.raises(InputError, match=words):
        change_rating(store, target["id"], to)
    assert list_ratings(store, kind=target["kind"])[0] == target
    with pytest.raises(NotFoundError):
        change_rating(store, 999, "a")
    with pytest.raises(InputError, match="'pair' or 'score'"):
        list_ratings(store, kind="pairs")


def test_guidelines_are_kept_and_a_text_too_long_changes_nothing(store):
    assert get_text(store, GUIDELINES) == ""
    assert save_guidelines(store, "  Prefer short, finished answers.\n") == "Prefer short, finished answers."
    with pytest.raises(InputError, match="Nothing was changed"):
        save_guidelines(store, "x" * (MAX_CHARS + 1))
    assert get_text(store, GUIDELINES) == "Prefer short, finished answers."


def test_the_migration_links_old_ratings_to_their_pairs_and_choices(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    db.conn.execute("PRAGMA foreign_keys = ON")
    for fn in MIGRATIONS[:3]:
        fn(db)
    db.execute("INSERT INTO models (id, name, kind, source, path, created_at) VALUES (1, 'm', 'starter', 's', 'p', 't')")
    for i, text in ((1, "left"), (2, "right")):
        db.execute("INSERT INTO generations (id, model_id, prompt, completion, finished, new_tokens, settings, created_at) "
                   "VALUES (?, 1, 'p', ?, 0, 3, '{}', 't')", [i, text])
    db.execute("INSERT INTO ratings (id, kind, prompt, chosen, rejected, outcome, source, fingerprint, created_at) "
               "VALUES (5, 'pair', 'p', 'right', 'left', 'chosen', 'app', 'f', 't')")
    db.execute("INSERT INTO pair_queue (id, prompt, generation_a, generation_b, reason, rating_id, created_at, answered_at) "
               "VALUES (9, 'p', 1, 2, 'diverse', 5, 't', 't')")
    MIGRATIONS[3](db)
    assert db.execute("SELECT pair_id FROM ratings").fetchone()[0] == 9
    assert db.execute("SELECT choice FROM pair_queue").fetchone()[0] == "b"
