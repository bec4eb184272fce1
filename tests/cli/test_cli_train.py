"""``superhf train / runs / resume / export`` through the real console script, including a
run killed with SIGKILL in the middle of its work and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from conftest import last_json, superhf, write_jsonl
from core.store.runs import get_run, iterations, last_checkpoint
from core.store.database import open_store
from synthetic import banana_ratings

TRAIN = ["--model", "tiny", "--reward", "reward", "--iterations", "5", "--max-new-tokens", "16",
         "--superbatch", "6", "--prompts-per-iteration", "12", "--lr", "1e-2"]

CLOCK_READINGS = ("seconds", "created_at", "sample_tokens_per_second", "elapsed_seconds")  # differ run to run


def workspace(home, tiny_model_dir, tmp_path) -> Path:
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    ratings = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in banana_ratings(30)]
    superhf("ratings", "import", str(write_jsonl(tmp_path / "r.jsonl", ratings)), home=home, check=True)
    superhf("reward", "train", home=home, check=True)
    rows = [{"prompt": f"Tell me about thing {i}.", "split": "eval" if i % 4 == 0 else "train"} for i in range(24)]
    return write_jsonl(tmp_path / "prompts.jsonl", rows)


def final_state(home, run):
    with open_store(home) as store:
        row = get_run(store, run)
        folder = Path(last_checkpoint(store, row["id"])["path"])
        metrics = [{k: v for k, v in i.items() if k not in CLOCK_READINGS}
                   for i in iterations(store, row["id"])]
        return row["status"], load_file(str(folder / "adapter" / "adapter_model.safetensors")), metrics


def test_a_run_killed_mid_work_resumes_to_the_same_state(home, tiny_model_dir, tmp_path):
    prompts = workspace(home, tiny_model_dir, tmp_path)
    superhf("train", *TRAIN, "--prompts", str(prompts), "--name", "whole", home=home, check=True)

    env = dict(os.environ, SUPERHF_HOME=str(home))
    script = Path(sys.executable).parent / "superhf"
    proc = subprocess.Popen([str(script), "train", *TRAIN, "--prompts", str(prompts), "--name", "killed"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    with open_store(home) as store:
        while time.time() < deadline:  # wait for the first checkpoint, then kill inside the next iteration
            run = store.one("SELECT id FROM runs WHERE name = 'killed'")
            if run and last_checkpoint(store, run["id"]):
                break
            time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    status, _, done = final_state(home, "killed")
    assert status == "running"  # killed: it never got to say otherwise
    assert 1 <= done[-1]["iteration"] < 5

    resumed = superhf("--json", "resume", "killed", home=home, check=True)
    assert last_json(resumed)["run"] == "killed"
    whole, killed = final_state(home, "whole"), final_state(home, "killed")
    assert whole[0] == killed[0] == "finished"
    assert whole[1].keys() == killed[1].keys()
    assert all(torch.equal(whole[1][k], killed[1][k]) for k in whole[1])
    assert whole[2] == killed[2]


def test_runs_list_show_and_export(home, tiny_model_dir, tmp_path):
    prompts = workspace(home, tiny_model_dir, tmp_path)
    trained = superhf("train", *TRAIN, "--iterations", "2", "--prompts", str(prompts), "--name", "demo", home=home,
                      check=True)
    assert "iteration 2/2: reward" in trained.stdout
    listed = last_json(superhf("--json", "runs", "list", home=home, check=True))["runs"]
    assert [(r["name"], r["status"], r["done"]) for r in listed] == [("demo", "finished", 2)]
    shown = last_json(superhf("--json", "runs", "show", "demo", home=home, check=True))
    assert shown["run"]["config"]["superbatch_size"] == 6 and [i["iteration"] for i in shown["iterations"]] == [0, 1, 2]

    out = tmp_path / "tuned"
    superhf("export", "demo", str(out), home=home, check=True)
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert model.config.model_type == "llama"
    again = superhf("export", "demo", str(out), home=home)
    assert again.returncode == 1 and "not empty" in again.stderr and len(again.stderr.splitlines()) == 1
    missing = superhf("resume", "nope", home=home)
    assert missing.returncode == 1 and "No run named 'nope'" in missing.stderr


def test_two_cpu_processes_share_the_prompts_and_train_one_model(home, tiny_model_dir, tmp_path):
    import socket

    prompts = workspace(home, tiny_model_dir, tmp_path)
    with socket.socket() as s:  # a free loopback port for the processes to meet on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = str(Path(sys.executable).parent / "torchrun")
    launch = (torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port))
    result = superhf("--device", "cpu", "train", *TRAIN, "--iterations", "2", "--prompts", str(prompts),
                     "--name", "pair", home=home, launch=launch)
    assert result.returncode == 0, result.stderr[-2000:]
    status, adapters, metrics = final_state(home, "pair")
    assert status == "finished"
    assert [m["iteration"] for m in metrics] == [0, 1, 2]  # recorded once, by the main process
    assert all(m["processes"] == 2 for m in metrics[1:])
    assert all(torch.isfinite(t).all() for t in adapters.values())
    # counts add up over the processes: 12 prompts x 6 answers, 6 prompts and 36 answers each
    assert all(36 < m["samples"] <= 72 and 6 < m["kept"] <= 12 for m in metrics[1:])
    assert metrics[-1]["learning_rate"] < 1e-6 * 1e-2  # each process's schedule decayed over its own steps


def test_minutes_train_for_a_time_budget_and_stop_by_themselves(home, tiny_model_dir, tmp_path):
    prompts = workspace(home, tiny_model_dir, tmp_path)
    bad = superhf("train", "--model", "tiny", "--reward", "reward", "--prompts", str(prompts), "--minutes", "-1",
                  home=home)
    assert bad.returncode == 1 and "--minutes" in bad.stderr
    result = superhf("--json", "train", "--model", "tiny", "--reward", "reward", "--prompts", str(prompts),
                     "--minutes", "0.2", "--max-new-tokens", "8", "--superbatch", "2", "--prompts-per-iteration", "2",
                     "--name", "timed", home=home, check=True)
    done = [i for i in last_json(result)["iterations"] if i["iteration"] > 0]
    assert done and len(done) < 10_000  # it stopped by itself, not at the iterations' cap
    assert all(i["elapsed_seconds"] <= 12 + 5 for i in done[:-1])  # rounds started only while they fitted
    assert last_json(result)["time_limit"].startswith(f"Stopped after {len(done)} rounds")
    assert "0.2-minute limit" in result.stderr  # said to the person (stdout holds the JSON)
    status, _, _ = final_state(home, "timed")
    assert status == "finished"


def test_a_plain_train_runs_10_rounds_within_15_minutes_and_minutes_alone_let_the_time_decide(home, monkeypatch):
    import core.journey.training as training
    from core.journey.run_verdict import MINUTES_CAP
    from core.cli.main import main
    from core.errors import InputError

    seen = []

    def start_run(store, **kw):  # the settings the run would be stored with; no run is started
        seen.append(kw["config"])
        raise InputError("stopped by the test")
    monkeypatch.setattr(training, "start_run", start_run)
    base = ["--home", str(home), "train", "--model", "m", "--reward", "r", "--prompts", "p"]
    for extra in ([], ["--minutes", "30"], ["--minutes", "0"], ["--iterations", "8"]):
        assert main(base + extra) == 1
    assert [(c["iterations"], c["minutes"]) for c in seen] == [(10, 15), (MINUTES_CAP, 30), (10, 0), (8, 15)]


def test_train_says_so_when_the_reward_model_may_be_at_chance(home, tiny_model_dir, tmp_path, monkeypatch, capsys):
    import core.reward.verdict as gate
    from core.cli.main import main

    prompts = workspace(home, tiny_model_dir, tmp_path)
    monkeypatch.setattr(gate, "verdict", lambda row: {
        "better_than_chance": False, "more_ratings": 40, "message": "Agrees with you on 9 of 20 comparisons.",
        "advice": "Rate more answers."})
    code = main(["--home", str(home), "train", "--model", "tiny", "--reward", "reward", "--prompts", str(prompts),
                 "--iterations", "1", "--max-new-tokens", "4", "--superbatch", "2", "--prompts-per-iteration", "2"])
    out = capsys.readouterr().out
    assert code == 0  # a warning, not a refusal
    assert "may not know your taste yet" in out and "About 40 more ratings" in out


def test_train_says_how_long_before_and_what_changed_after(home, tiny_model_dir, tmp_path, capsys):
    from core.cli.main import main

    prompts = workspace(home, tiny_model_dir, tmp_path)
    short = ["--home", str(home), "train", "--model", "tiny", "--reward", "reward", "--prompts", str(prompts),
             "--max-new-tokens", "4", "--superbatch", "2", "--prompts-per-iteration", "2"]
    assert main([*short, "--iterations", "2", "--name", "first"]) == 0
    out = capsys.readouterr().out
    unmeasured = out.index("No run of this model has been measured on this computer yet: the first round will tell")
    assert unmeasured < out.index("iteration 1/2: reward")  # said before the run starts
    assert out.rstrip().splitlines()[-1].endswith("Try Compare to check with your own eyes.")  # the last word

    assert main([*short, "--iterations", "3", "--name", "second"]) == 0
    out = capsys.readouterr().out
    estimate = next(line for line in out.splitlines() if line.startswith("This run will take "))
    assert "on this computer" in estimate and "from 2 rounds measured here" in estimate
    assert out.index(estimate) < out.index("iteration 1/3: reward")

    assert main(["--home", str(home), "--json", "resume", "second"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["verdict"].endswith("Try Compare to check with your own eyes.")
