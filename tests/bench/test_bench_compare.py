"""``superhf bench compare`` end to end on the tiny model, at a budget of seconds: every
method (TRL's RLOO included) runs for every seed, the sweeps run, the report, its charts
and its JSON are written, and what must hold whatever the model holds: best-of-N's picks
score higher on the reward model than plain samples, its KL is the known bound, and the
app itself never imports the benchmark extra."""

import json
import math
import subprocess
import sys

import pytest

from conftest import last_json, superhf


def test_bench_compare_runs_every_method_and_the_sweeps_and_writes_the_report(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    out = tmp_path / "report"
    result = superhf("--json", "bench", "compare", "--model", "tiny", "--seeds", "2", "--budget", "4",
                     "--ratings", "30", "--answers", "1", "--sweep-iterations", "1", "--out", str(out),
                     home=home, check=True)
    found = last_json(result)
    table = found["table"]
    assert set(table) == {"base", "superhf", "best_of_n", "feedme", "rloo"}
    for method, metrics in table.items():
        assert all(math.isfinite(metrics[k]["mean"]) and metrics[k]["spread"] >= 0 for k in metrics), method
    assert table["best_of_n"]["reward"]["mean"] > table["base"]["reward"]["mean"]
    assert table["best_of_n"]["kl"]["mean"] == math.log(16) - 15 / 16
    assert table["feedme"]["seconds"]["mean"] >= 4  # trained for its whole budget
    for method in ("superhf", "feedme", "rloo"):  # tuned adapters moved the policy off the base
        assert table[method]["kl"]["mean"] > 0, method

    saved = json.loads((out / "compare.json").read_text())
    runs = saved["runs"]
    assert len(runs["superhf"]) == len(runs["feedme"]) == len(runs["rloo"]) == 2
    assert all(r["steps"] > 0 and r["curve"] for r in runs["rloo"])  # RLOO stepped and logged its reward
    assert all(r["steps"] > 0 and r["curve"] for r in runs["feedme"])
    assert [p["n"] for p in runs["best_of_n"][0]["curve_n"]] == [1, 2, 4, 8, 16]
    curve_n = runs["best_of_n"][0]["curve_n"]
    assert curve_n[-1]["reward"] >= curve_n[0]["reward"]  # the best of more samples never scores lower

    sweeps = found["sweeps"]
    assert [s["value"] for s in sweeps["superbatch"]] == [1, 4, 8, 16]
    assert [s["value"] for s in sweeps["kl"]] == [0.0, 0.1, 0.35]
    assert sweeps["kl"][-1]["reward"] == sweeps["superbatch"][-1]["reward"]  # the default point, run once
    assert all(s["iterations"] == 1 for s in sweeps["superbatch"])

    report = (out / "compare.md").read_text()
    for row in ("| SuperHF |", "| FeedME (SFT on chosen) |", "| best-of-16 (inference) |", "| RLOO (TRL) |",
                "| superbatch size |", "| KL coefficient |", "![reward-vs-time.png]", "![sweeps.png]"):
        assert row in report, row
    for chart in ("reward-vs-time.png", "sweeps.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart


def test_superbatch_of_one_is_for_ablations_only():
    from core.errors import InputError
    from core.superhf.config import SuperHFConfig

    with pytest.raises(InputError, match="at least 2"):
        SuperHFConfig(superbatch_size=1)
    assert SuperHFConfig(superbatch_size=1, ablation=True).superbatch_size == 1


def test_a_missing_benchmark_extra_is_named_with_the_command_that_installs_it(monkeypatch):
    import importlib.util

    from core.bench.rloo import require_bench_extra
    from core.errors import InputError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a))
    with pytest.raises(InputError, match=r"\(trl missing\).*pip install 'superhf-studio\[bench\]'"):
        require_bench_extra()


def test_the_app_and_the_cli_never_import_the_benchmark_extra():
    # (pandas, which datasets pulls in, is left out: sqlite-utils imports it wherever it is installed)
    code = ("import sys; import core.cli.main, desktop.window, desktop.app, core.bench.compare; "
            "core.cli.main.build_parser(); "
            "print(sorted(m for m in ('trl', 'datasets', 'matplotlib') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert found.stdout.strip() == "[]", found.stdout + found.stderr


def test_a_budget_spent_by_loading_still_lets_the_first_iteration_finish():
    import time

    from core.bench.methods import FirstThenBudget

    def cancelled_within(token, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not token.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        return token.cancelled

    late = FirstThenBudget(0.01)  # the budget ends before the first iteration does
    assert not cancelled_within(late, 0.2)
    late.first_done()
    assert late.cancelled

    early = FirstThenBudget(0.3)  # the first iteration ends within the budget
    early.first_done()
    assert not early.cancelled
    assert cancelled_within(early, 30)
