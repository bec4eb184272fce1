"""What the desktop's pages stand on: the workspace overview and its next step, typed
prompts, taking back a rating, the reward model's disagreements, and blind comparisons of
a tuned model with its base."""

import json

import pytest

from conftest import superhf
from core.journey.answering import answer_pair, undo_pair
from core.journey.pair_queue import candidate_pairs, open_pairs, queue_pairs, rank_pairs
from core.journey.compare import answer_comparison, open_comparisons, prepare_comparison, undo_comparison, win_rate
from core.errors import InputError
from core.sampling.generation import SamplingSettings
from core.journey.answers import generate_answers
from core.journey.overview import next_step, overview
from core.store.prompts import add_prompts, parse_typed
from core.store.ratings import add_ratings
from core.reward.versions import train_reward_model
from core.reward.review import disagreements
from core.store.runs import create_run
from core.superhf.run import run_superhf
from core.superhf.config import SuperHFConfig
from synthetic import banana_ratings


def test_the_next_step_follows_the_journey(store, tiny_model_dir):
    from core.models.importing import import_model

    assert overview(store)["next"]["page"] == "model"
    import_model(store, tiny_model_dir, name="tiny")
    assert overview(store)["next"]["page"] == "prompts"
    add_prompts(store, parse_typed("What is tea?\n\n  Why is the sky blue?  \n"), "mine")
    state = overview(store)
    assert state["train_prompts"] + state["eval_prompts"] == 2 and state["next"]["page"] == "rate"
    add_ratings(store, banana_ratings(25), source="test")
    assert overview(store)["next"]["page"] == "reward"
    train_reward_model(store)
    state = overview(store)
    assert state["reward_model"]["pairs"] == 25 and state["next"]["page"] == "train"
    add_ratings(store, banana_ratings(25, seed=1), source="test")
    assert "new since" in overview(store)["next"]["text"]

    later = {**state, "runs": [{"name": "r", "status": "cancelled", "done": 2, "iterations": 3}]}
    assert later["next"] == state["next"] and next_step(later)["text"].startswith("Run “r” stopped after iteration 2")
    finished = {**later, "runs": [{"name": "r", "status": "finished", "done": 3, "iterations": 3}]}
    assert next_step(finished)["page"] == "compare"
    assert next_step({**finished, "exports": 1})["page"] == "export"


def test_typed_prompts_need_text_and_a_set_name(store):
    with pytest.raises(InputError, match="no prompts"):
        add_prompts(store, parse_typed(" \n\n"), "mine")
    with pytest.raises(InputError, match="needs a name"):
        add_prompts(store, parse_typed("Hello"), "  ")
    assert add_prompts(store, parse_typed("Hello\nHello\nBye"), "mine")["added"] == 2


def test_a_rating_taken_back_reopens_its_pair(store, tiny_model):
    generate_answers(store, tiny_model, [(None, "Hello there")], 3, SamplingSettings(max_new_tokens=6, seed=0))
    pool = candidate_pairs(store, ["Hello there"])
    queued = queue_pairs(store, rank_pairs(pool, 2), None)
    first = queued[0]["id"]
    answer_pair(store, first, "a")
    assert store.count("ratings") == 1 and first not in [p["id"] for p in open_pairs(store)]
    undo_pair(store, first)
    assert store.count("ratings") == 0 and open_pairs(store)[0]["id"] == first
    with pytest.raises(InputError, match="no answer to take back"):
        undo_pair(store, first)


def test_disagreements_are_the_held_out_pairs_the_model_gets_wrong(store, tiny_model):
    add_ratings(store, banana_ratings(40), source="test")
    row = store.one("SELECT * FROM reward_models WHERE id = ?", [train_reward_model(store)["id"]])
    review = disagreements(store, row)
    held_out = len(json.loads(row["data"])["heldout_ratings"])
    assert review["heldout"] and review["checked"] == held_out > 0
    assert review["wrong_count"] == round((1 - row["accuracy"]) * held_out)
    assert all(w["guess"] < 0.5 for w in review["wrong"])


@pytest.fixture
def tuned_run(store, tiny_model):
    add_prompts(store, [(f"Tell me about thing {i}.", "eval" if i < 3 else "train") for i in range(8)], "things")
    set_id = store.one("SELECT id FROM prompt_sets")["id"]
    config = SuperHFConfig(iterations=1, prompts_per_iteration=2, superbatch_size=2, max_new_tokens=6,
                           eval_prompts=0, learning_rate=1e-2)
    create_run(store, name="r", model_id=store.model(tiny_model)["id"], reward_model_id=None, prompt_set_id=set_id,
               config=config.to_dict())
    run_superhf(store, "r", reward_fn=lambda prompts, texts: [-len(t) for t in texts])
    return "r"


def test_a_blind_comparison_maps_sides_back_to_the_models(store, tuned_run):
    shown = prepare_comparison(store, tuned_run, n_prompts=3, seed=2)
    assert [s["prompt"] for s in shown] == [f"Tell me about thing {i}." for i in range(3)]
    rows = store.all("SELECT * FROM comparisons ORDER BY id")
    assert [r["tuned_on_left"] for r in rows] == [0, 1, 0]  # sides shuffled (seeded)
    for s, r in zip(shown, rows):
        assert {s["left"], s["right"]} == {r["base"], r["tuned"]}
    first, second, third = rows
    answer_comparison(store, first["id"], "left")
    answer_comparison(store, second["id"], "right")
    answer_comparison(store, third["id"], "tie")
    won = {r["id"]: r["choice"] for r in store.all("SELECT id, choice FROM comparisons")}
    assert won[first["id"]] == ("tuned" if first["tuned_on_left"] else "base")
    assert won[second["id"]] == ("base" if second["tuned_on_left"] else "tuned")
    rate = win_rate(store, tuned_run)
    assert rate["judged"] == 3 and rate["ties"] == 1
    assert rate["rate"] == pytest.approx((rate["wins"] + 0.5) / 3) and rate["low"] < rate["rate"] < rate["high"]
    assert store.count("ratings") == 3 and {r["source"] for r in store.all("SELECT source FROM ratings")} == {"compare"}
    undo_comparison(store, third["id"])
    assert win_rate(store, tuned_run)["judged"] == 2 and store.count("ratings") == 2
    assert [s["id"] for s in open_comparisons(store, tuned_run)] == [third["id"]]
    with pytest.raises(InputError, match="answered already"):
        answer_comparison(store, first["id"], "left")


def test_progress_can_be_read_as_json_lines(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    prompts = tmp_path / "p.txt"
    prompts.write_text("Hello there\nWhy is the sky blue?\n")
    result = superhf("--progress-json", "generate", "--model", "tiny", "--prompts", str(prompts), "--answers", "2",
                     "--max-new-tokens", "4", "--out", str(tmp_path / "a.jsonl"), home=home, check=True)
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"progress"')]
    assert events[0]["progress"] == "loading model" and events[0]["model"] == "tiny"
    generating = [e for e in events if e["progress"] == "generating"]
    assert generating[0] == {"progress": "generating", "done": 0, "total": 4}
    assert generating[-1] == {"progress": "generating", "done": 4, "total": 4}


def test_json_progress_thins_a_flood_of_plain_steps_but_keeps_ends_and_details(capsys):
    """A tiny model steps thousands of times a second; the window must not fall behind."""
    from argparse import Namespace

    from core.cli.output import progress_printer
    from core.progress import Progress

    emit = progress_printer(Namespace(progress_json=True))
    for done in range(0, 1001):
        emit(Progress("generating", done, 1000))
    emit(Progress("generating", 500, 1000, {"notice": "Out of memory while sampling: batch halved to 8."}))
    emit(Progress("scoring", 1, 4))  # a new stage always goes out
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    generating = [e for e in events if e["progress"] == "generating"]
    assert generating[0]["done"] == 0 and generating[-2]["done"] == 1000  # the first and the last step
    assert len(generating) < 100  # not a thousand lines
    assert generating[-1]["notice"].startswith("Out of memory")  # details are never dropped
    assert events[-1] == {"progress": "scoring", "done": 1, "total": 4}


def test_the_win_rate_is_said_in_words_with_what_to_do_next():
    from core.journey.compare import win_verdict

    def rate(wins, losses, ties=0):
        from core.reward.verdict import wilson

        n = wins + losses + ties
        r = (wins + ties / 2) / n
        low, high = wilson(r * n, n)
        return {"judged": n, "wins": wins, "losses": losses, "ties": ties, "rate": r, "low": low, "high": high}

    assert win_verdict({"judged": 0}).startswith("No comparisons judged yet")
    clear = win_verdict(rate(30, 6))
    assert "won 30 and lost 6 of 36" in clear and "export it" in clear
    worse = win_verdict(rate(5, 25))
    assert "You prefer the original" in worse and "export" not in worse
    unsure = win_verdict(rate(9, 7, 2))
    assert "(2 ties)" in unsure and "No clear difference yet" in unsure and "more judgements" not in unsure
    near = win_verdict(rate(14, 6))
    assert "No clear difference yet. About" in near and "more judgements" in near
