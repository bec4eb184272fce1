"""``superhf-studio --self-test`` (and ``superhf selftest``): the whole engine, headless, in a
temporary workspace: import the starter model, generate an answer, train a reward model on
a few built-in ratings, run one tiny SuperHF iteration and export. Each step is printed; any
failure ends with exit status 1. Used to check a desktop bundle on the machine it lands on."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

RATINGS = [  # built in: polite, direct answers preferred
    ("How do I reset my password?", "Open Settings, choose Security, then Reset password. Thank you!",
     "idk, figure it out"),
    ("Can you summarise the meeting?", "Sure: we agreed on the budget and the launch date is May 3.",
     "meeting happened"),
    ("What is the capital of France?", "The capital of France is Paris.", "france is a country i think"),
    ("How should I greet a customer?", "Greet them by name, thank them for waiting, and offer help.",
     "just say hi"),
    ("Write a short apology for a late reply.", "Sorry for my late reply, and thank you for your patience.",
     "late. whatever."),
    ("Explain what a firewall does.", "A firewall filters network traffic, letting allowed connections through.",
     "it is a wall"),
]


def self_test(say: Callable[[str], None] = print) -> dict:
    from transformers import AutoModelForCausalLM

    from core.journey.answers import generate_answers
    from core.journey.export import export
    from core.sampling.generation import SamplingSettings
    from core.models.importing import STARTER_NAME, import_model
    from core.store.prompts import add_prompts
    from core.store.ratings import add_ratings, pair
    from core.reward.versions import train_reward_model
    from core.journey.training import start_run
    from core.store.database import open_store
    from core.superhf.run import run_superhf
    from core.superhf.config import SuperHFConfig

    figures = {}
    with tempfile.TemporaryDirectory(prefix="superhf-selftest-") as home:
        home = Path(home)

        def step(name, fn):
            say(f"[self-test] {name}…")
            started = time.perf_counter()
            result = fn()
            figures[name] = round(time.perf_counter() - started, 1)
            say(f"[self-test] {name}: ok ({figures[name]} s)")
            return result

        with open_store(home) as store:
            step("import the starter model", lambda: import_model(store, starter=True))
            rows = step("generate an answer", lambda: generate_answers(
                store, STARTER_NAME, [(None, "What is the capital of France?")], 1,
                SamplingSettings(max_new_tokens=16, seed=0), device="cpu"))
            say(f"[self-test]   answer: {rows[0]['completion']!r}")
            add_ratings(store, [pair(p, good, bad) for p, good, bad in RATINGS], source="self-test")
            step("train a reward model", lambda: train_reward_model(store))
            add_prompts(store, [(p, "train") for p, _, _ in RATINGS], "self-test")
            config = SuperHFConfig(iterations=1, prompts_per_iteration=2, superbatch_size=2, max_new_tokens=8,
                                   eval_prompts=0)
            step("one SuperHF iteration", lambda: run_superhf(store, start_run(
                store, model=STARTER_NAME, reward="reward", prompts="self-test", config=config.to_dict(),
                name="self-test")["name"], device="cpu"))
            out = home / "export"
            step("export", lambda: export(store, "self-test", out))
            step("load the export in plain transformers",
                 lambda: AutoModelForCausalLM.from_pretrained(out, local_files_only=True))
    say("[self-test] all steps passed.")
    return {"passed": True, "seconds": figures}
