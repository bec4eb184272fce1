"""Fixtures shared by the whole suite: a workspace per test (redirected through
SUPERHF_HOME, so no test touches the user's data), a tiny random model built from a config
in a temporary folder (no download), and the real starter model imported once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))  # helpers beside the tests (tiny_gguf)

import core  # noqa: E402,F401  (offline switches before any Hugging Face import)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own workspace; the user's real one is never touched."""
    path = tmp_path / "home"
    monkeypatch.setenv("SUPERHF_HOME", str(path))
    return path


@pytest.fixture
def store(home):
    from core.store.database import open_store

    with open_store(home) as s:
        yield s


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-initialised LLaMA of a few hundred thousand parameters with a real chat
    tokenizer (the starter's, cut to 1024 tokens), saved as a safetensors folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from tiny_gguf import make_tiny_gguf

    scratch = tmp_path_factory.mktemp("tiny-gguf")
    gguf = make_tiny_gguf(scratch / "tok.gguf", vocab_size=1024)
    tokenizer = AutoTokenizer.from_pretrained(scratch, gguf_file=gguf.name, local_files_only=True)
    folder = tmp_path_factory.mktemp("tiny-model")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture
def tiny_model(store, tiny_model_dir) -> str:
    """The tiny model imported into this test's workspace; returns its name."""
    from core.models.importing import import_model

    return import_model(store, tiny_model_dir, name="tiny")["name"]


@pytest.fixture(scope="session")
def starter_home(tmp_path_factory) -> Path:
    """A fresh workspace where the real starter model was imported as the README says, with
    the console script (once per session: ~20 s)."""
    path = tmp_path_factory.mktemp("starter-home")
    superhf("model", "import", "--starter", home=path, check=True)
    return path


NETGUARD = Path(__file__).parent / "netguard"


def superhf(*args: str, home: Path | None = None, check: bool = False,
            launch: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run the real console script, as a user would from a terminal (behind ``launch``, a
    launcher such as torchrun, if given), with every attempt at a connection beyond this
    machine refused and recorded (tests/netguard): any attempt fails the test."""
    script = Path(sys.executable).parent / "superhf"
    env = dict(os.environ)
    if home is not None:
        env["SUPERHF_HOME"] = str(home)
    fd, log = tempfile.mkstemp(prefix="netguard-", suffix=".log")
    os.close(fd)
    env["SUPERHF_NETGUARD_LOG"] = log
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), env.get("PYTHONPATH")]))
    try:
        result = subprocess.run([*launch, str(script), *args], capture_output=True, text=True, env=env, timeout=600)
        attempts = Path(log).read_text()
    finally:
        os.unlink(log)
    assert attempts == "", f"superhf {' '.join(args)} tried to reach the network:\n{attempts}"
    if check and result.returncode != 0:
        raise AssertionError(f"superhf {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def last_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- the desktop app

DESKTOP_PROMPTS = [f"Tell me about thing {i}." for i in range(12)]


@pytest.fixture
def window(qtbot, home):
    from desktop.window import MainWindow

    w = MainWindow(home)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.studio.shutdown(20000)


@pytest.fixture
def ready_home(home, tiny_model_dir):
    """A workspace with everything training needs: the tiny model, prompts, synthetic
    ratings and a reward model, made through core."""
    from core.models.importing import import_model
    from core.store.prompts import add_prompts
    from core.store.ratings import add_ratings
    from core.reward.versions import train_reward_model
    from core.store.database import open_store
    from synthetic import banana_ratings

    with open_store(home) as store:
        import_model(store, tiny_model_dir, name="tiny")
        add_prompts(store, [(p, "eval" if i % 4 == 0 else "train") for i, p in enumerate(DESKTOP_PROMPTS)], "things")
        add_ratings(store, banana_ratings(30), source="test")
        train_reward_model(store)
    return home
