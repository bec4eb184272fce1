"""Precision chosen by measurement (core.models.precision): the faster dtype wins, the answer is
cached in the workspace under a key of everything that changes it, an explicit precision or
SUPERHF_DTYPE overrides, and a broken cache file is measured again instead of failing."""

import json

import pytest
import torch
from transformers import LlamaConfig

import core.models.precision as precision
from core.models.devices import choose_dtype
from core.models.precision import CACHE_FILE, choose_precision, probe_key
from core.models.precision_probe import probe
from core.sampling.decoder import sampling_precision
from core.store.database import open_store

BIG = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=16, num_attention_heads=16,
           num_key_value_heads=8, vocab_size=32000)  # ~0.5B parameters: measured, never built here


@pytest.fixture
def timings(monkeypatch):
    """A fake probe: returns the seconds set in ``timings.answer`` and counts its calls."""
    class Fake:
        answer = {"float32": 2.0, "bfloat16": 1.0}
        calls = []

    fake = Fake()
    monkeypatch.setattr(precision, "_measure", lambda purpose, device, config: (
        fake.calls.append((purpose, config.hidden_size)), dict(fake.answer))[1])
    monkeypatch.setattr(precision, "_memo", {})
    monkeypatch.delenv("SUPERHF_DTYPE", raising=False)
    return fake


def test_the_faster_dtype_wins_and_says_why(timings, tmp_path):
    choice = choose_precision("sampling", "cpu", config=LlamaConfig(**BIG), cache_dir=tmp_path)
    assert choice.dtype == "bfloat16" and choice.reason == "measured: bfloat16 2.0x faster here"
    assert choice.torch_dtype == torch.bfloat16
    timings.answer = {"float32": 1.0, "bfloat16": 1.25}
    choice = choose_precision("training", "cpu", config=LlamaConfig(**BIG), cache_dir=tmp_path)
    assert choice.dtype == "float32" and choice.reason == "measured: float32 1.2x faster here"
    timings.answer = {"float32": 1.02, "bfloat16": 1.0}  # within the margin: float32, the exact one
    choice = choose_precision("sampling", "cpu", config=LlamaConfig(**BIG, head_dim=32), cache_dir=tmp_path)
    assert choice.dtype == "float32" and "kept" in choice.reason


def test_measured_once_then_read_from_the_workspace(timings, tmp_path, monkeypatch):
    config = LlamaConfig(**BIG)
    choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path)
    monkeypatch.setattr(precision, "_memo", {})  # a new process: only the file remembers
    timings.answer = {"float32": 1.0, "bfloat16": 3.0}  # would now say float32, if measured again
    assert choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path).dtype == "bfloat16"
    assert len(timings.calls) == 1
    entries = json.loads((tmp_path / CACHE_FILE).read_text())["entries"]
    assert list(entries) == [probe_key("sampling", "cpu", config)]
    assert entries[probe_key("sampling", "cpu", config)]["bfloat16"] == 1.0


def test_measured_again_when_the_key_changes(timings, tmp_path, monkeypatch):
    config = LlamaConfig(**BIG)
    choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path)
    choose_precision("training", "cpu", config=config, cache_dir=tmp_path)  # another purpose
    choose_precision("sampling", "cpu", config=LlamaConfig(**{**BIG, "hidden_size": 2048}), cache_dir=tmp_path)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)  # another thread count
    choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path)
    monkeypatch.setattr(torch, "__version__", "9.9.9")  # another torch
    choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path)
    assert len(timings.calls) == 5
    assert len(json.loads((tmp_path / CACHE_FILE).read_text())["entries"]) == 5
    choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path)  # nothing changed
    assert len(timings.calls) == 5


@pytest.mark.parametrize("broken", ["{not json", '{"entries": [1, 2]}', '{"entries": {"%s": {"float32": "x"}}}', "[]"])
def test_a_broken_cache_file_is_measured_again_and_rewritten(timings, tmp_path, broken):
    config = LlamaConfig(**BIG)
    (tmp_path / CACHE_FILE).write_text(broken.replace("%s", probe_key("sampling", "cpu", config)))
    assert choose_precision("sampling", "cpu", config=config, cache_dir=tmp_path).dtype == "bfloat16"
    assert len(timings.calls) == 1
    assert json.loads((tmp_path / CACHE_FILE).read_text())["entries"][probe_key("sampling", "cpu", config)]


def test_asked_for_or_set_in_the_environment_is_not_measured(timings, tmp_path, monkeypatch):
    config = LlamaConfig(**BIG)
    timings.answer = {"float32": 1.0, "bfloat16": 2.0}
    choice = choose_precision("sampling", "cpu", requested="bfloat16", config=config, cache_dir=tmp_path)
    assert (choice.dtype, choice.reason) == ("bfloat16", "asked for bfloat16")
    monkeypatch.setenv("SUPERHF_DTYPE", "bfloat16")
    assert choose_precision("training", "cpu", config=config, cache_dir=tmp_path).reason == "SUPERHF_DTYPE=bfloat16"
    assert choose_precision("sampling", "cpu", requested="float32", config=config).dtype == "float32"  # the flag first
    assert choose_dtype("cpu", "float32") == torch.float32
    assert timings.calls == [] and not (tmp_path / CACHE_FILE).exists()


def test_small_models_and_missing_configs_are_not_measured(timings, tmp_path):
    tiny = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       vocab_size=100)
    assert choose_precision("training", "cpu", config=tiny).dtype == "float32"
    assert choose_precision("sampling", "cpu", config=tiny, unmeasured="bfloat16").dtype == "bfloat16"
    assert choose_precision("sampling", "cpu", folder=tmp_path / "nothing-here").dtype == "float32"
    assert timings.calls == []


def test_loading_and_sampling_measure_the_model_in_its_workspace(timings, tmp_path):
    """A model folder inside a workspace: its cache folder holds the answer; the training load
    and the sampling choice each measure their own purpose once."""
    with open_store(tmp_path / "home") as store:
        folder = store.workspace.models_dir / "big"
    LlamaConfig(**BIG).save_pretrained(folder)
    assert choose_dtype("cpu", folder=folder) == torch.bfloat16
    assert choose_dtype("cpu", "sampling", folder=folder) == torch.bfloat16
    choice = sampling_precision("cpu", torch.float32, "auto", folder=folder)
    assert choice.dtype == "bfloat16" and choice.reason.startswith("measured")
    assert [purpose for purpose, _ in timings.calls] == ["training", "sampling"]
    assert len(json.loads((tmp_path / "home" / "cache" / CACHE_FILE).read_text())["entries"]) == 2
    outside = tmp_path / "elsewhere"  # a model used where it lies: the default workspace's cache
    LlamaConfig(**{**BIG, "hidden_size": 512}).save_pretrained(outside)
    assert choose_dtype("cpu", folder=outside) == torch.bfloat16
    assert len(json.loads((tmp_path / "home" / "cache" / CACHE_FILE).read_text())["entries"]) == 3


def test_without_any_workspace_the_answer_lasts_the_process(timings, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERHF_HOME", str(tmp_path / "no-workspace"))
    LlamaConfig(**BIG).save_pretrained(tmp_path / "model")
    for _ in range(2):
        assert choose_dtype("cpu", folder=tmp_path / "model") == torch.bfloat16
    assert len(timings.calls) == 1 and not list(tmp_path.rglob(CACHE_FILE))


@pytest.mark.parametrize("purpose", ["sampling", "training"])
def test_the_probe_times_both_dtypes_on_a_real_short_model(purpose):
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=512, pad_token_id=600)
    seconds = probe(purpose, "cpu", config)
    assert set(seconds) == {"float32", "bfloat16"} and all(0 < s < 60 for s in seconds.values())
