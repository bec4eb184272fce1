"""Plain words about a training run, from hand-made stored figures: what each metric means and
the values it can take, how long a new run will take on this computer, and the verdict after
a run."""

from core.journey.estimate import about, estimate_seconds, estimate_sentence
from core.journey.metric_words import METRICS, bounds, explain, iteration_line
from core.journey.run_verdict import run_verdict
from core.store.models import insert_model
from core.store.runs import create_run, measured_rounds, record_iteration
from core.superhf.config import SuperHFConfig

SETTINGS = {"prompts_per_iteration": 16, "superbatch_size": 16, "epochs": 4, "max_new_tokens": 64,
            "iterations": 5, "minutes": None}


def measured(iteration=1, seconds=60.0, elapsed=None, before=None, config=SETTINGS, **extra):
    """A round as measured_rounds returns it: 256 answers of 40 tokens sampled at 512 tokens/s
    (20 s of sampling), the rest (40 s) scoring and learning."""
    return {"iteration": iteration, "seconds": seconds, "samples": 256, "mean_length": 40.0,
            "sample_tokens_per_second": 512.0, "cut_off_share": 0.05, "elapsed_seconds": elapsed,
            "elapsed_before": before, "config": config, **extra}


# -- what the metrics mean

def test_every_charted_metric_is_explained_and_bounded_where_it_must_be():
    assert "how far the tuned model has moved from the original" in explain("kl")
    assert bounds("kl") == (0.0, None) and bounds("distinct_2") == (0.0, 1.0) and bounds("cut_off_share") == (0.0, 1.0)
    assert bounds("reward_mean") == (None, None)  # a reward can be negative
    assert bounds("mean_length")[0] == 0.0 and bounds("accuracy") == (0.0, 1.0)
    assert all(m.explanation.endswith(".") and "\n" not in m.explanation for m in METRICS.values())
    assert explain("unknown_metric") == "unknown_metric"


def test_an_iteration_line_says_n_a_for_what_was_not_measured():
    line = iteration_line(2, 5, {"reward_mean": 0.5, "kept_reward_mean": 0.75, "eval_reward": None, "kl": 0.01,
                                 "ce": 2.0, "distinct_2": 0.9, "seconds": 12.34})
    assert line == ("iteration 2/5: reward 0.500 (kept 0.750), eval n/a, KL 0.0100, CE 2.000, distinct-2 0.90, "
                    "12.3 s")
    assert iteration_line(0, 5, {"eval_reward": 0.25}) == "before training: eval reward 0.250"


# -- how long a run will take

def test_the_same_settings_take_what_was_measured_plus_evaluation_and_start_up():
    rounds = [measured(2, 60.0, elapsed=150.0, before=80.0), measured(1, 60.0, elapsed=80.0)]
    found = estimate_seconds(SETTINGS, rounds)
    # between rounds 1 and 2: 70 s elapsed of which 60 s the round: 10 s evaluation and checkpoint;
    # round 1 ended at 80 s: 80 - 60 - 10 = 10 s of loading and the first evaluation
    assert found["round"] == 70.0 and found["start"] == 10.0
    assert found["seconds"] == 10.0 + 5 * 70.0 and found["measured"] == 2 and not found["capped"]


def test_settings_scale_each_part_by_its_work():
    base = estimate_seconds(SETTINGS, [measured()])
    assert base["round"] == 60.0
    twice_the_prompts = estimate_seconds({**SETTINGS, "prompts_per_iteration": 32}, [measured()])
    assert twice_the_prompts["round"] == 120.0  # every part doubles
    more_passes = estimate_seconds({**SETTINGS, "epochs": 8}, [measured()])
    # sampling (20 s) stays; scoring and learning (40 s) grow from 16 + 12 to 16 + 24 units
    assert more_passes["round"] == 20.0 + 40.0 * 40 / 28
    double_iterations = estimate_seconds({**SETTINGS, "iterations": 10}, [measured()])
    assert double_iterations["seconds"] == 2 * base["seconds"]


def test_a_longer_limit_only_lengthens_answers_that_were_being_cut_off():
    longer = {**SETTINGS, "max_new_tokens": 128}
    assert estimate_seconds(longer, [measured()])["round"] == 60.0  # answers ended on their own
    cut = estimate_seconds(longer, [measured(cut_off_share=0.9)])["round"]
    assert cut == 120.0  # in proportion to the limit: 40 -> 80 tokens
    shorter = estimate_seconds({**SETTINGS, "max_new_tokens": 20}, [measured()])["round"]
    assert shorter == 30.0  # 40 -> at most 20 tokens


def test_minutes_given_cap_the_estimate():
    found = estimate_seconds({**SETTINGS, "iterations": 10_000, "minutes": 30}, [measured()])
    assert found["seconds"] == 30 * 60 and found["capped"]
    assert "about 30 minutes on this computer, the time limit" in estimate_sentence(
        {**SETTINGS, "iterations": 10_000, "minutes": 30}, [measured()])


def test_nothing_measured_says_so_plainly():
    assert estimate_seconds(SETTINGS, []) is None
    assert estimate_seconds(SETTINGS, [measured(seconds=None)]) is None  # a round without its timings
    assert estimate_sentence(SETTINGS, []).startswith("No run of this model has been measured on this computer yet")


def test_the_sentence_says_about_and_a_rounded_figure():
    text = estimate_sentence({**SETTINGS, "iterations": 8}, [measured(seconds=65.0)])
    assert text.startswith("This run will take about 9 minutes on this computer") and "1 round measured" in text
    assert [about(s) for s in (20, 61, 9 * 60 + 20, 23 * 60, 70 * 60, 100 * 60, 13 * 3600)] == [
        "under a minute", "about 1 minute", "about 9 minutes", "about 25 minutes", "about an hour",
        "about 1.5 hours", "about 13 hours"]


def test_measured_rounds_are_this_models_newest_with_the_elapsed_time_before(store):
    ids = [insert_model(store, {"name": n, "kind": "folder", "source": "x", "path": "x", "created_at": "2024"})
           for n in ("small", "big")]
    config = SuperHFConfig(iterations=3).to_dict()
    small = create_run(store, name="a", model_id=ids[0], reward_model_id=None, prompt_set_id=None, config=config)
    big = create_run(store, name="b", model_id=ids[1], reward_model_id=None, prompt_set_id=None, config=config)
    record_iteration(store, small["id"], 0, {"eval_reward": 0.1}, None)
    for i in (1, 2):
        record_iteration(store, small["id"], i, {"seconds": 5.0 * i, "elapsed_seconds": 10.0 * i}, None)
    record_iteration(store, big["id"], 1, {"seconds": 99.0, "elapsed_seconds": 120.0}, None)
    rounds = measured_rounds(store, "small")
    assert [(r["iteration"], r["seconds"], r["elapsed_before"]) for r in rounds] == [(2, 10.0, 10.0), (1, 5.0, None)]
    assert rounds[0]["config"]["iterations"] == 3 and rounds[0]["run_id"] == small["id"]
    assert len(measured_rounds(store, "small", limit=1)) == 1 and measured_rounds(store, "none") == []


# -- the verdict after a run

def round_metrics(iteration, **values):
    base = {"iteration": iteration, "reward_mean": 0.0, "reward_std": 1.0, "samples": 256, "mean_length": 40.0,
            "cut_off_share": 0.4, "distinct_2": 0.8, "kl": 0.05}
    return {**base, **values}


def test_a_run_that_changed_the_answers_says_how_in_plain_words():
    its = [{"iteration": 0, "eval_reward": -0.2},
           round_metrics(1, reward_mean=-0.1, reward_std=0.5, mean_length=38.0, cut_off_share=0.4),
           round_metrics(2, reward_mean=0.2),
           round_metrics(3, reward_mean=0.5, reward_std=0.5, mean_length=55.0, cut_off_share=0.1, eval_reward=0.4)]
    text = run_verdict(its, prompts_per_round=16)
    assert text == ("Answers got longer (38 → 55 tokens); more answers ended on their own (60% → 90%); the reward "
                    "model's score rose by 0.60; on the evaluation prompts it went from -0.20 to 0.40. Try Compare "
                    "to check with your own eyes.")


def test_a_change_within_the_noise_is_not_called_a_rise():
    its = [round_metrics(1, reward_mean=0.0), round_metrics(2, reward_mean=0.3)]
    # 16 prompts, std 1: the noise of the difference is 2 * sqrt(2 / 16) = 0.71
    text = run_verdict(its, prompts_per_round=16)
    assert "stayed about the same (+0.30, within the noise of ±0.71)" in text and "rose" not in text
    assert "longer" not in text and "shorter" not in text and "ended on their own" not in text  # unchanged
    # counted by answers (256), the same change is beyond the noise
    assert "rose by 0.30" in run_verdict(its)


def test_repetitive_answers_and_a_large_kl_are_named():
    its = [round_metrics(1), round_metrics(2, distinct_2=0.4, kl=1.5, mean_length=20.0)]
    text = run_verdict(its)
    assert "answers got shorter (40 → 20 tokens)" in text.lower()
    assert "more alike, more repetitive (variety 0.80 → 0.40)" in text
    assert "moved far from the original model (KL 1.50)" in text


def test_too_few_rounds_claim_nothing():
    assert run_verdict([]) == "No round finished yet: nothing to judge."
    assert run_verdict([{"iteration": 0, "eval_reward": 0.1}]) == "No round finished yet: nothing to judge."
    one = run_verdict([round_metrics(1)])
    assert one.startswith("Only one round finished: too early to tell")
