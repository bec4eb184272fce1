"""The air gap: a whole journey on the command line (import, prompts, generate, rate,
reward, train, export) with every attempt at a connection beyond this machine refused and
recorded by tests/netguard (``superhf()`` fails a test on any attempt), and the offline
switches set before any Hugging Face library loads, whatever the entry point."""

import json
import subprocess
import sys

import pytest
from conftest import last_json, superhf, write_jsonl


def test_a_whole_journey_attempts_no_connection(home, tiny_model_dir, tmp_path):
    steps = [
        ("model", "import", str(tiny_model_dir), "--name", "tiny"),
        ("prompts", "import", str(write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"Tell me about thing {i}."}
                                                                     for i in range(12)])), "--set", "things"),
        ("generate", "--model", "tiny", "--prompts", "things", "--answers", "2", "--max-new-tokens", "8",
         "--out", str(tmp_path / "answers.jsonl")),
        ("--json", "rate", "next", "--pairs", "12", "--max-new-tokens", "8"),
    ]
    for step in steps:
        superhf(*step, home=home, check=True)  # each call fails the test on any attempt at the network
    pairs = last_json(superhf("--json", "rate", "next", "--pairs", "12", home=home, check=True))["pairs"]
    for i, p in enumerate(pairs):
        superhf("rate", "answer", str(p["id"]), "a" if i % 2 else "b", home=home, check=True)
    for step in [("reward", "train"),
                 ("train", "--model", "tiny", "--reward", "reward", "--prompts", "things", "--iterations", "1",
                  "--prompts-per-iteration", "2", "--superbatch", "2", "--max-new-tokens", "8", "--name", "r"),
                 ("export", "r", str(tmp_path / "out"))]:
        superhf(*step, home=home, check=True)
    assert (tmp_path / "out" / "model.safetensors").is_file()


WATCH = """
import importlib.abc, json, os, sys
seen = {}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("transformers", "huggingface_hub") and name not in seen:
            seen[name] = os.environ.get("HF_HUB_OFFLINE")  # the switch as the library first loads
        return None
sys.meta_path.insert(0, Watch())
import ENTRY
import transformers  # what the entry point's commands import later, lazily
print(json.dumps(seen))
"""


@pytest.mark.parametrize("entry", ["core.cli.main", "core.bench.generate", "desktop.app", "desktop.bench_gui",
                                   "desktop.window"])
def test_every_entry_point_is_offline_before_hugging_face_loads(entry):
    out = subprocess.run([sys.executable, "-c", WATCH.replace("ENTRY", entry)], capture_output=True, text=True,
                         check=True, env={k: v for k, v in __import__("os").environ.items() if not k.startswith("HF_")})
    assert json.loads(out.stdout) == {"transformers": "1", "huggingface_hub": "1"}
