"""The database's safety nets (a backup before a schema change, a newer database left
alone), ``superhf doctor``, and a run that cannot fit in memory refused before loading."""

import shutil
import sqlite3

import pytest
import sqlite_utils

from conftest import superhf
from core.store.doctor import check_workspace
from core.errors import InputError
from core.store.migrations import MIGRATIONS
from core.store.database import open_store
from core.superhf.memory import ModelShape, check_memory, plan_memory
from core.superhf.config import SuperHFConfig


def test_an_existing_database_is_backed_up_before_its_schema_changes(home, tiny_model):
    with open_store(home) as store:
        assert not (home / "backups").exists()  # a current database is not copied on every open
    db_path = home / "superhf.db"
    db_path.unlink()  # as if written before the newest migration: every one but the last
    old = sqlite_utils.Database(db_path)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for fn in MIGRATIONS[:-1]:
        fn(old)
        old.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, 't')", [fn.__name__])
    old.execute("INSERT INTO models (name, kind, source, path, created_at) VALUES ('tiny', 'folder', 's', 'p', 't')")
    old.conn.commit()
    old.close()
    last = MIGRATIONS[-1].__name__
    with open_store(home) as store:  # migrates again, after a backup
        assert store.one("SELECT 1 FROM _migrations WHERE name = ?", [last])
    backups = list((home / "backups").glob("superhf-*.db"))
    assert len(backups) == 1
    copy = sqlite3.connect(str(backups[0]))
    assert copy.execute("SELECT name FROM models").fetchall() == [("tiny",)]  # the data, before the change
    assert last not in {r[0] for r in copy.execute("SELECT name FROM _migrations")}
    copy.close()


def test_doctor_finds_missing_files_and_says_what_to_do(home, store, tiny_model_dir, tmp_path):
    from core.models.importing import import_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    import_model(store, folder, name="mine")  # used where it is
    assert check_workspace(store)["ok"]
    result = superhf("doctor", home=home)
    assert result.returncode == 0 and "No problems found" in result.stdout
    shutil.rmtree(folder)
    report = check_workspace(store)
    assert not report["ok"] and "import the model again" in report["problems"][0]
    result = superhf("doctor", home=home)
    assert result.returncode == 1 and "problem: Model 'mine'" in result.stdout
    assert result.stderr.strip().startswith("error: 1 problem(s) found")


def test_a_run_too_big_for_memory_is_refused_with_an_estimate(monkeypatch, store, tiny_model):
    import core.sampling.decoder

    row = dict(store.model(tiny_model), parameters=7_000_000_000)
    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: 16 * 2**30)
    with pytest.raises(InputError, match=r"needs about \d+\.\d GiB of memory and 16\.0 GiB is free\. Drop --full"):
        check_memory(row, SuperHFConfig(lora=False), "cpu")
    llama_7b = ModelShape.from_config({"hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 11008,
                                       "num_attention_heads": 32, "vocab_size": 32000}, parameters=7_000_000_000)
    need = lambda config: plan_memory(llama_7b, config, "cpu", free=2**62, weight_bytes=4, sample_bytes=2,  # noqa: E731
                                      refuse=False).need
    lora, full = need(SuperHFConfig()), need(SuperHFConfig(lora=False))
    assert 40 * 2**30 < lora < full  # 28 GB of float32 weights, a bf16 copy; full adds gradients and AdamW
    check_memory(dict(row, parameters=1_000_000), SuperHFConfig(), "cpu")  # a small model passes


def test_a_run_being_trained_is_not_trained_twice(home, store, tiny_model):
    import os

    from core.store.prompts import add_prompts, parse_typed
    from core.store.runs import create_run, run_lock

    add_prompts(store, parse_typed("Hello\nWhy?\nHow?"), "qs")
    create_run(store, name="busy", model_id=store.model(tiny_model)["id"], reward_model_id=None,
               prompt_set_id=store.one("SELECT id FROM prompt_sets")["id"], config=SuperHFConfig().to_dict())
    with run_lock(store, "busy"):  # as if another process were training it
        result = superhf("resume", "busy", home=home)
        assert result.returncode == 1
        assert f"being trained by process {os.getpid()}" in result.stderr and "Wait for it" in result.stderr
    with run_lock(store, "busy"):  # released when its holder let go
        pass


def test_the_code_loads_no_pickles_and_runs_no_remote_code():
    """Weights come from safetensors and GGUF; optimizer state through torch.load with
    weights_only=True; transformers never with trust_remote_code=True."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = {p: p.read_text() for d in ("core", "desktop") for p in (root / d).rglob("*.py")}
    loads = [(p.name, m.group(0)) for p, text in sources.items() for m in re.finditer(r"torch\.load\([^)]*\)", text)]
    assert loads and all("weights_only=True" in call for _, call in loads), loads
    assert not [p for p, text in sources.items() if re.search(r"trust_remote_code\s*=\s*True", text)]
    assert not [p for p, text in sources.items() if re.search(r"\bpickle\.loads?\(|\bimport pickle\b", text)]
