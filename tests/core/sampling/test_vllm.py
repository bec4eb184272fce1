"""The vLLM back end, against a fake ``vllm`` package that records what it is asked (vLLM
itself needs a CUDA GPU): what it is given, what comes back, the LoRA adapter of the policy,
and the clean fall-back to the built-in engine."""

import dataclasses
import json
import sys
import textwrap

import pytest

import core.sampling.vllm
from core.sampling.generation import SamplingSettings, format_prompt, sample, stop_token_ids
from core.models.importing import load_model

FAKE_VLLM = '''
import json, os
from types import SimpleNamespace

LOG = os.environ["FAKE_VLLM_LOG"]

def _log(**entry):
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\\n")

class SamplingParams:
    def __init__(self, **kw):
        self.kw = kw

class LLM:
    def __init__(self, **kw):
        if os.environ.get("FAKE_VLLM_FAIL"):
            raise RuntimeError("model architecture not supported")
        _log(init=kw)

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        lora = None
        if lora_request is not None:
            files = sorted(os.listdir(lora_request.lora_path))
            lora = {"name": lora_request.lora_name, "id": lora_request.lora_int_id, "files": files}
        _log(prompts=prompts, params=params.kw, lora=lora)
        stop = params.kw["stop_token_ids"][0]
        outs = []
        for p in prompts:
            answers = []
            for k in range(params.kw["n"]):
                if k % 2 == 0:  # ends its turn: the stop token comes last
                    answers.append(SimpleNamespace(token_ids=[p["prompt_token_ids"][-1], 300 + k, stop],
                                                   finish_reason="stop"))
                else:  # cut at the token limit
                    answers.append(SimpleNamespace(token_ids=[400] * params.kw["max_tokens"], finish_reason="length"))
            outs.append(SimpleNamespace(outputs=answers))
        return outs
'''


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    package = tmp_path / "fakes" / "vllm"
    (package / "lora").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(FAKE_VLLM))
    (package / "lora" / "__init__.py").write_text("")
    (package / "lora" / "request.py").write_text(
        "from dataclasses import dataclass\n@dataclass\nclass LoRARequest:\n"
        "    lora_name: str\n    lora_int_id: int\n    lora_path: str\n")
    log = tmp_path / "vllm.log"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.syspath_prepend(str(tmp_path / "fakes"))
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(core.sampling.vllm, "_engines", {})
    return lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def lm(store, tiny_model):
    return load_model(store, tiny_model, device="cpu")


def on_gpu(lm):
    """The same model as if it sat on a CUDA GPU: only the vLLM path looks at the device."""
    return dataclasses.replace(lm, device="cuda")


def test_on_a_gpu_with_vllm_installed_vllm_samples(lm, fake_vllm):
    prompts = ["Hello there", "Why is the sky blue?"]
    stats, batches = {}, []
    out = sample(on_gpu(lm), prompts, 2, SamplingSettings(max_new_tokens=5, top_p=0.9, seed=3), stats=stats,
                 on_batch=batches.append)
    init, call = fake_vllm()
    assert init["init"]["model"] == str(lm.path) and init["init"]["enable_lora"] is True
    assert call["params"] == {"n": 2, "temperature": 1.0, "top_p": 0.9, "max_tokens": 5,
                              "stop_token_ids": stop_token_ids(lm), "seed": 3}
    encoded = [lm.tokenizer(format_prompt(lm.tokenizer, p), add_special_tokens=False)["input_ids"] for p in prompts]
    assert call["prompts"] == [{"prompt_token_ids": ids} for ids in encoded] and call["lora"] is None
    assert [c.prompt_index for c in out] == [0, 0, 1, 1] and stats["backend"] == "vllm"
    assert [c.finished for c in out] == [True, False, True, False]
    assert [c.new_tokens for c in out] == [2, 5, 2, 5]  # the stop token is not part of the answer
    assert sum(len(b) for b in batches) == 4


def test_the_policys_lora_adapter_goes_to_vllm_as_a_folder(lm, fake_vllm):
    from peft import LoraConfig, get_peft_model

    lm.model = get_peft_model(lm.model, LoraConfig(r=4, lora_alpha=8, task_type="CAUSAL_LM"))
    sample(on_gpu(lm), ["Hello there"], 1, SamplingSettings(max_new_tokens=3, seed=0))
    sample(on_gpu(lm), ["Hello there"], 1, SamplingSettings(max_new_tokens=3, seed=0))
    init, first, second = fake_vllm()
    assert init["init"]["max_lora_rank"] >= 4
    assert "adapter_config.json" in first["lora"]["files"] and "adapter_model.safetensors" in first["lora"]["files"]
    assert first["lora"]["id"] != second["lora"]["id"]  # each iteration's adapter is a new one to vLLM


def test_without_a_gpu_or_without_vllm_the_built_in_engine_samples(lm, fake_vllm, monkeypatch):
    notices = []

    def collect(event):
        if event.detail.get("notice"):
            notices.append(event.detail["notice"])

    stats = {}
    sample(lm, ["Hello there"], 2, SamplingSettings(max_new_tokens=3, seed=0, backend="vllm"), stats=stats,
           on_progress=collect)
    assert stats["backend"] == "torch" and fake_vllm() == [] and "needs a CUDA GPU" in notices[-1]
    monkeypatch.setattr(core.sampling.vllm.importlib.util, "find_spec", lambda name: None)
    out = sample(on_gpu(lm), ["Hello there"], 2, SamplingSettings(max_new_tokens=3, seed=0, backend="vllm",
                                                                 precision="float32"),
                 stats=stats, on_progress=collect)
    assert len(out) == 2 and stats["backend"] == "torch" and "not installed" in notices[-1]


def test_vllm_failing_to_start_falls_back_with_the_reason(lm, fake_vllm, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_FAIL", "1")
    notices, stats = [], {}
    out = sample(on_gpu(lm), ["Hello there"], 2, SamplingSettings(max_new_tokens=3, seed=0, precision="float32"),
                 stats=stats, on_progress=lambda e: notices.append(e.detail.get("notice")))
    assert len(out) == 2 and stats["backend"] == "torch"
    assert any(n and "vLLM could not start" in n and "not supported" in n for n in notices)


def test_asking_for_the_built_in_engine_never_starts_vllm(lm, fake_vllm):
    stats = {}
    sample(on_gpu(lm), ["Hello there"], 1, SamplingSettings(max_new_tokens=3, seed=0, backend="torch",
                                                           precision="float32"), stats=stats)
    assert stats["backend"] == "torch" and fake_vllm() == []
