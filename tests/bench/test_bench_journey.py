"""``bench_journey``: the whole journey with simulated raters, end to end on the tiny model at
tiny sizes (report files and the shape of the result; never the figures), and the raters
themselves: two tastes that disagree, each noisy but following its own utility."""

import json
import math
import random

import pytest

from core.bench.rater import RATERS, ConciseExpert, SimulatedRater, make_rater

RAMBLING_POLITE = ("Thank you so much for asking! I hope this helps you and your team:\n1. you can restart it\n"
                   "2. you can check your settings and")  # a list, "you", polite, but cut off
DIRECT = "Restart the router, then check that the cable is firmly connected."
HEDGED_FINISHED = "I think you should maybe restart it. Perhaps that might work."
FILLER = "Sure! Restart the router and check the cable. I hope this helps, feel free to ask."


def test_the_concise_expert_has_the_documented_taste():
    rater = ConciseExpert()
    assert rater.utility("Yes.") == -2.0  # nearly empty
    assert rater.utility("The firewall filters traffic between networks and") == -1.5  # cut off
    assert rater.utility(RAMBLING_POLITE) == -1.5  # cut off, whatever else it says
    assert rater.utility(DIRECT) == 1.0
    assert rater.utility('He said "restart the router and check the cable."') == 1.0  # closing quote allowed
    assert rater.utility(HEDGED_FINISHED) == 1.0 - 0.5 * 2  # I think, maybe, perhaps, might: two count
    assert rater.utility(FILLER) == 1.0 - 0.5 * 2  # opening "Sure", "I hope this helps", "feel free to"
    assert rater.utility("Restart the router now and restart the router now, please.") == 1.0 - 1.0  # repeats
    long = " ".join(["word"] * 69) + " end."  # 70 words, the same one over and over: it repeats itself too
    assert rater.utility(long) == pytest.approx(1.0 - 1.0 - 0.05 * 10)


def test_the_two_raters_disagree_on_hand_made_pairs():
    lead, expert = SimulatedRater(), ConciseExpert()
    pairs = [(RAMBLING_POLITE, DIRECT),
             ("Thank you for asking! You can restart your router and check your cable. I hope this helps.", DIRECT),
             ("Thank you! Please restart your router and check your cable", DIRECT)]
    for a, b in pairs:  # the support lead prefers a, the concise expert b
        assert lead.utility(a) > lead.utility(b), a
        assert expert.utility(a) < expert.utility(b), a
    assert set(RATERS) == {"support-lead", "concise-expert"}
    assert isinstance(make_rater("concise-expert"), ConciseExpert)


@pytest.mark.parametrize("rater", [SimulatedRater(), ConciseExpert()], ids=lambda r: r.name)
def test_each_rater_is_noisy_but_follows_its_utility(rater):
    rng = random.Random(0)
    answers = [RAMBLING_POLITE, DIRECT, HEDGED_FINISHED, FILLER, "Yes.",
               "I think my answer is that I am right about this", "You can:\n1. restart it\n2. try again."]
    for a in answers:
        for b in answers:
            gap = rater.utility(a) - rater.utility(b)
            wins = sum(rater.prefers_a(a, b, rng) for _ in range(300)) / 300
            expected = 1 / (1 + math.exp(-rater.sharpness * gap))
            assert abs(wins - expected) < 0.1, (a, b)  # noisy, by the documented rule
            if gap >= 1:
                assert wins > 0.9
    same = DIRECT  # equal utility: a coin flip
    wins = sum(rater.prefers_a(same, same + " ", rng) for _ in range(400))
    assert 150 < wins < 250


def test_a_time_budget_runs_unlimited_iterations_stopped_by_a_timer():
    from core.bench.journey import _config

    config, use_timer = _config({"superbatch_size": 2}, None, seed=3)
    assert (config.seed, config.superbatch_size, use_timer) == (3, 2, False)
    config, use_timer = _config(None, 5.0, seed=0)
    assert config.iterations == 10_000
    assert use_timer == (not hasattr(config, "minutes"))


def test_bench_journey_walks_every_step_and_writes_the_report(tiny_model_dir, tmp_path):
    from core.bench.journey import bench_journey

    out = tmp_path / "report"
    said = []
    result = bench_journey(model=str(tiny_model_dir), ratings=12, seeds=2, eval_prompts=4, answers_per_prompt=2,
                           probe_prompts=2, retrain_every=6, settings={"iterations": 1, "prompts_per_iteration": 2,
                                                                      "superbatch_size": 2, "max_new_tokens": 8},
                           device="cpu", out=out, say=said.append)
    assert result["raters"] == ["support-lead", "concise-expert"]
    assert result["held_out_prompts"] == 4 and result["training_prompts"] == 36
    assert set(result["precision"]) == {"sampling", "training"}  # what each dtype choice was, and why
    assert all("float32" in why or "bfloat16" in why for why in result["precision"].values())
    journeys = result["journeys"]
    assert [(j["rater"], j["seed"]) for j in journeys] == [
        ("support-lead", 0), ("concise-expert", 0), ("support-lead", 1), ("concise-expert", 1)]
    for j in journeys:
        assert j["ratings"] == 12 and j["reward_retrains_while_rating"] == 1  # at 6; the final one after 12
        assert j["iterations"] == 1 and j["minutes"] > 0 and not j["stopped_by_budget"]
        assert [p[0] for p in j["curve"]][0] == 0.0 and len(j["curve"]) == 2  # the base, then iteration 1
        assert j["curve"][1][0] > 0
        for key in ("gain", "gain_se", "base", "tuned", "best_of_1", "best_of_4", "best_of_16",
                    "tuned_minus_best_of_4", "distinct_2_base", "distinct_2_tuned"):
            assert math.isfinite(j[key]), key
        assert 0 <= j["agreement"] <= 1 and j["agreement_pairs"] > 0
        assert 0 <= j["finished_base"] <= 1 and 0 <= j["finished_tuned"] <= 1
    for name, s in result["summary"].items():
        assert s["seeds"] == 2 and s["gain"]["se_over"] == "seeds" and s["gain"]["se"] >= 0
        assert set(s["done_when"]) == {"gain_at_least_3_se", "distinct_2_at_least_80_percent", "at_least_best_of_4"}
        assert s["iterations"] == [1, 1]

    saved = json.loads((out / "journey.json").read_text())
    assert set(saved) == {"facts", "summary", "journeys"} and len(saved["journeys"]) == 4
    report = (out / "journey.md").read_text()
    for row in ("| support-lead |", "| concise-expert |", "tuned − best-of-4", "![journey.png](journey.png)",
                "Done when", "Precision (sampling: ", "for 1 iteration(s) (at most 15 minutes)"):
        assert row in report, row
    assert (out / "journey.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # --extend: another seed joins the report, as if run with it; the earlier report is kept as it was
    tiny = dict(model=str(tiny_model_dir), ratings=12, eval_prompts=4, answers_per_prompt=2, probe_prompts=2,
                retrain_every=6, device="cpu", say=said.append)
    settings = {"iterations": 1, "prompts_per_iteration": 2, "superbatch_size": 2, "max_new_tokens": 8}
    earlier = (out / "journey.json").read_text()
    both = bench_journey(seeds=1, first_seed=2, extend=out / "journey.json", settings=settings,
                         out=tmp_path / "more", **tiny)
    assert [(j["rater"], j["seed"]) for j in both["journeys"]][-2:] == [("support-lead", 2), ("concise-expert", 2)]
    assert both["journeys"][:4] == saved["journeys"] and both["seed_list"] == [0, 1, 2]
    assert all(s["seeds"] == 3 and s["iterations"] == [1, 1, 1] for s in both["summary"].values())
    assert [p["seed_list"] for p in both["parts"]] == [[0, 1], [2]]
    assert "Put together from 2 runs" in (tmp_path / "more" / "journey.md").read_text()
    assert (out / "journey.json").read_text() == earlier


def test_extend_refuses_another_measure_or_a_seed_it_has_before_running_anything(tmp_path):
    from core.bench.journey import _config, bench_journey
    from core.errors import InputError

    report = tmp_path / "journey.json"
    facts = {"model": "m", "device": "cpu", "ratings": 12, "raters": ["support-lead"], "minutes_budget": None,
             "asked_held_out_prompts": 4, "answers_per_prompt": 2, "best_of": [4, 16], "retrain_every": 6,
             "settings": None, "precision": {"sampling": "measured: bfloat16 1.6x faster here"}}
    facts["settings"] = _config({"iterations": 1}, None, 0)[0].to_dict()  # as that run stored them
    report.write_text(json.dumps({"facts": facts, "summary": {}, "journeys": [{"seed": 0}, {"seed": 1}]}))
    run = dict(model=str(tmp_path / "no-model-here"), ratings=12, eval_prompts=4, answers_per_prompt=2,
               retrain_every=6, raters=["support-lead"], device="cpu", extend=report, say=lambda t: None)
    with pytest.raises(InputError, match=r"measured something else.*iterations: 1 there, 2 here"):
        bench_journey(seeds=1, first_seed=2, settings={"iterations": 2}, **run)
    with pytest.raises(InputError, match=r"already has seed\(s\) 1: give --first-seed 2"):
        bench_journey(seeds=2, first_seed=1, settings={"iterations": 1}, **run)
    with pytest.raises(InputError, match="No report at"):
        bench_journey(seeds=1, first_seed=2, settings={"iterations": 1}, **{**run, "extend": tmp_path / "none.json"})
    # only then the model: these fail on the options, never reaching the missing model


def test_extend_refuses_journeys_sampled_in_another_dtype():
    from core.bench.journey_extend import check_model, dtype_of
    from core.errors import InputError

    earlier = {"path": "r.json", "facts": {"model": "m", "precision": {
        "sampling": "measured: bfloat16 1.6x faster here", "training": "float32: the model is too small"}}}
    check_model(earlier, "m", {"sampling": "measured: bfloat16 1.7x faster here", "training": "float32: small"})
    with pytest.raises(InputError, match="sampling in bfloat16 there, float32 here"):
        check_model(earlier, "m", {"sampling": "measured: float32 1.2x faster here", "training": "float32: small"})
    with pytest.raises(InputError, match="model: 'm' there, 'other' here"):
        check_model(earlier, "other", {"sampling": "bfloat16", "training": "float32"})
    assert dtype_of("measured: bfloat16 1.6x faster here") == "bfloat16" and dtype_of("") is None


def test_the_command_passes_on_only_the_training_settings_typed(monkeypatch, home):
    import core.bench.journey as journey
    from core.cli.main import main

    calls = []
    monkeypatch.setattr(journey, "bench_journey", lambda store, **kw: calls.append(kw) or {})
    assert main(["bench", "journey", "--seeds", "1", "--epochs", "1", "--head-start", "2", "--iterations", "3"]) == 0
    assert main(["bench", "journey", "--seeds", "1"]) == 0
    assert calls[0]["settings"] == {"iterations": 3, "epochs": 1, "head_start": 2}
    assert calls[1]["settings"] is None  # the app's defaults, the point of the benchmark
    assert calls[1]["first_seed"] == 0 and calls[1]["extend"] is None
    assert main(["bench", "journey", "--seeds", "2", "--first-seed", "3", "--extend", "r/journey.json"]) == 0
    assert calls[2]["first_seed"] == 3 and calls[2]["extend"].name == "journey.json"
