"""``superhf bench reward`` end to end on the tiny model: every rater, method and strategy
gives a curve over the rating counts, with the app's cross-validated accuracy beside it."""

from core.bench.reward import bench_reward


def test_bench_reward_measures_each_rater_and_method(store, tiny_model):
    out = bench_reward(store, model=tiny_model, n_prompts=8, per_prompt=4, budgets=(8, 12), repeats=2, start=4,
                       step=4, max_new_tokens=6, time_modes=False, say=lambda t: None)
    assert set(out["accuracy"]) == {"support-lead", "concise-expert"} and out["budgets"] == [8, 12]
    for rater in out["accuracy"].values():
        assert set(rater) == {"test_pairs", "random/fixed", "random/chosen", "active/chosen"}
        chosen = rater["random/chosen"]["curve"]
        for b in (8, 12):
            assert chosen[b]["n"] in (0, 2)  # 0: the tiny model's answers gave no clear test pair
            assert chosen[b]["mean"] is None or 0 <= chosen[b]["mean"] <= 1
            assert 0 <= chosen[b]["cv"]["mean"] <= 1 and 0 <= chosen[b]["above_chance"] <= 1
            assert sum(chosen[b]["views"].values()) == 2
            assert rater["active/chosen"]["curve"][b]["n"] == chosen[b]["n"]
