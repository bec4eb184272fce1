"""``superhf bench compare`` end to end on the tiny model, at a budget of seconds: every
method runs for every seed, the report and its JSON are written, and what must hold
whatever the model holds: best-of-N's picks score higher on the reward model than plain
samples, and its KL is the known bound."""

import json
import math

from conftest import last_json, superhf


def test_bench_compare_runs_every_method_and_writes_the_report(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    out = tmp_path / "report"
    result = superhf("--json", "bench", "compare", "--model", "tiny", "--seeds", "2", "--budget", "3",
                     "--ratings", "30", "--answers", "1", "--out", str(out), home=home, check=True)
    table = last_json(result)["table"]
    assert set(table) == {"base", "superhf", "best_of_n", "feedme"}
    for method, metrics in table.items():
        assert all(math.isfinite(metrics[k]["mean"]) and metrics[k]["spread"] >= 0 for k in metrics), method
    assert table["best_of_n"]["reward"]["mean"] > table["base"]["reward"]["mean"]
    assert table["best_of_n"]["kl"]["mean"] == math.log(16) - 15 / 16
    assert table["feedme"]["seconds"]["mean"] >= 3  # trained for its whole budget
    runs = json.loads((out / "compare.json").read_text())["runs"]
    assert len(runs["superhf"]) == len(runs["feedme"]) == 2 and all(r["steps"] > 0 for r in runs["feedme"])
    report = (out / "compare.md").read_text()
    assert "| SuperHF |" in report and "| FeedME (SFT on chosen) |" in report and "best-of-16" in report
