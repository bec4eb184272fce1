"""The fault campaign: a real ``superhf train`` on the tiny model, killed with SIGKILL at one
moment after another (sampling, scoring, the update, evaluation, the checkpoint write) and
resumed each time, must end exactly where an uninterrupted run ends; a ratings import
killed mid-transaction must leave every rating committed before it, and nothing of itself.
After every kill the database passes ``PRAGMA integrity_check``."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import torch
from conftest import NETGUARD, superhf, write_jsonl
from test_cli_train import TRAIN, final_state, workspace

# (stage, which of its events in that process): the kill lands right after the engine reports
# it. ("iteration", 2) is the start of the second iteration a process runs: one was finished
# and saved, so the run moves on and later kills fall in later iterations.
KILL_POINTS = [("generating", 0), ("scoring", 0), ("updating", 1), ("evaluating", 0), ("saving checkpoint", 0),
               ("iteration", 2), ("generating", 3), ("iteration", 2), ("updating", 0), ("saving checkpoint", 0)]


def integrity(home: Path) -> tuple[str, int]:
    conn = sqlite3.connect(str(home / "superhf.db"))
    try:
        return (conn.execute("PRAGMA integrity_check").fetchone()[0],
                conn.execute("SELECT count(*) FROM ratings").fetchone()[0])
    finally:
        conn.close()


def run_until(home: Path, args: list[str], stage: str, nth: int, killed_in: list) -> bool:
    """Start ``superhf ARGS``; SIGKILL it at the ``nth`` progress event of ``stage`` (noting
    the iteration it was in). Returns False if it finished first."""
    env = dict(os.environ, SUPERHF_HOME=str(home), PYTHONPATH=str(NETGUARD))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "superhf"), "--progress-json", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    count, iteration = 0, 0
    for line in proc.stderr:
        if not line.startswith('{"progress"'):
            continue
        event = json.loads(line)
        if event["progress"] == "iteration":
            iteration = event["done"] + (0 if event.get("metrics") else 1)
        if event["progress"] == stage:
            if count == nth:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                killed_in.append(iteration)
                return True
            count += 1
    proc.wait(timeout=60)
    return False


def test_a_run_killed_at_every_kind_of_moment_ends_as_if_never_killed(home, tiny_model_dir, tmp_path):
    prompts = workspace(home, tiny_model_dir, tmp_path)
    superhf("train", *TRAIN, "--prompts", str(prompts), "--name", "whole", home=home, check=True)
    _, ratings = integrity(home)

    args = ["train", *TRAIN, "--prompts", str(prompts), "--name", "campaign"]
    survived, iterations = [], []
    for stage, nth in KILL_POINTS:
        assert run_until(home, args, stage, nth, iterations), f"the run ended before a kill while {stage}"
        survived.append(stage)
        assert integrity(home) == ("ok", ratings), f"after a kill while {stage}"
        args = ["resume", "campaign"]
    assert len(set(iterations)) >= 3, iterations  # the kills fell in several iterations, not only the first
    superhf("resume", "campaign", home=home, check=True)
    whole, campaign = final_state(home, "whole"), final_state(home, "campaign")
    assert whole[0] == campaign[0] == "finished"
    assert all(torch.equal(whole[1][k], campaign[1][k]) for k in whole[1])
    assert whole[2] == campaign[2]  # every iteration's metrics, the same
    assert integrity(home) == ("ok", ratings)


def test_a_ratings_import_killed_mid_transaction_keeps_what_was_committed(home, tmp_path):
    first = write_jsonl(tmp_path / "first.jsonl", [{"prompt": f"p{i}", "chosen": "yes", "rejected": "no"}
                                                   for i in range(50)])
    superhf("ratings", "import", str(first), home=home, check=True)
    rows = [{"prompt": f"Question {i}: " + "words " * 20, "chosen": f"answer a {i}", "rejected": f"answer b {i}"}
            for i in range(60_000)]
    big = write_jsonl(tmp_path / "big.jsonl", rows)
    env = dict(os.environ, SUPERHF_HOME=str(home), PYTHONPATH=str(NETGUARD))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "superhf"), "ratings", "import", str(big)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = home / "superhf.db-wal"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # the import's transaction is being written
        if wal.exists() and wal.stat().st_size > 256 * 1024:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the import ended before it could be interrupted; make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert integrity(home) == ("ok", 50)  # all of the first import, nothing of the killed one
    superhf("ratings", "import", str(big), home=home, check=True)
    assert integrity(home) == ("ok", 60_050)
