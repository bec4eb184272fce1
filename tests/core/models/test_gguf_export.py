"""GGUF export: the file gguf's own reader sees (architecture, tensors, settings, tokenizer),
transformers' GGUF loader turns back into a model that answers as the safetensors export does
(f16: the same greedy tokens; q8_0: within a measured tolerance), for Llama (the tiny model
and the real starter), Qwen2 and Mistral; an Ollama Modelfile beside it; refusals said
plainly before anything is written."""

import json

import gguf
import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import superhf, write_jsonl
from core.errors import InputError
from core.journey.export import export
from core.models.importing import STARTER_NAME, import_model
from core.store.prompts import import_prompts
from core.store.runs import create_run
from core.superhf.config import SuperHFConfig
from core.superhf.run import run_superhf

PROMPTS = ["Hello, who are you?", "Tell me about the sea.", "Write a short poem about bread.",
           "What should I cook tonight?", "Explain why the sky is blue."]


def brevity(prompts, completions):
    return [-float(len(c)) for c in completions]


def tuned_run(store, model: str, name: str = "r") -> str:
    """One SuperHF iteration with LoRA on ``model``: an export merges the adapters first."""
    rows = [{"prompt": f"Tell me about thing {i}.", "split": "eval" if i % 4 == 0 else "train"} for i in range(12)]
    import_prompts(store, write_jsonl(store.workspace.tmp_dir / "p.jsonl", rows), set_name=f"p-{name}")
    set_id = store.one("SELECT id FROM prompt_sets WHERE name = ?", (f"p-{name}",))["id"]
    config = SuperHFConfig(iterations=1, max_new_tokens=8, superbatch_size=2, prompts_per_iteration=4,
                           eval_prompts=2, learning_rate=5e-2)
    create_run(store, name=name, model_id=store.model(model)["id"], reward_model_id=None, prompt_set_id=set_id,
               config=config.to_dict())
    run_superhf(store, name, reward_fn=brevity)
    return name


def chat_ids(tokenizer, prompt):
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt")


def greedy(model, ids, n=12):
    with torch.no_grad():
        return model.generate(**ids, do_sample=False, max_new_tokens=n)[0, ids["input_ids"].shape[1]:].tolist()


def load_gguf(folder):
    (file,) = folder.glob("*.gguf")
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file.name, local_files_only=True).eval()
    return model, AutoTokenizer.from_pretrained(folder, gguf_file=file.name, local_files_only=True), file


def field(reader, key):
    return reader.fields[key].contents()


def test_a_tuned_run_in_f16_reads_back_and_answers_as_the_safetensors_export(store, tiny_model, tmp_path):
    tuned_run(store, tiny_model)
    export(store, "r", tmp_path / "st")
    result = export(store, "r", tmp_path / "gg", fmt="gguf", quant="f16")
    folder = tmp_path / "gg"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "README.md", "r-f16.gguf"]  # no scratch left
    assert result["gguf"] == "r-f16.gguf" and result["architecture"] == "llama"

    reader = gguf.GGUFReader(folder / "r-f16.gguf")
    assert field(reader, "general.architecture") == "llama" and field(reader, "general.name") == "r"
    assert field(reader, "llama.block_count") == 2 and field(reader, "llama.attention.head_count_kv") == 2
    assert field(reader, "llama.rope.dimension_count") == 8 and field(reader, "llama.embedding_length") == 32
    assert field(reader, "tokenizer.ggml.model") == "gpt2" and len(field(reader, "tokenizer.ggml.tokens")) == 1024
    assert field(reader, "tokenizer.ggml.merges") and field(reader, "tokenizer.ggml.eos_token_id") == 2
    assert "<|im_start|>" in field(reader, "tokenizer.chat_template")
    assert field(reader, "tokenizer.ggml.add_bos_token") is False
    types = field(reader, "tokenizer.ggml.token_type")
    assert types[2] == gguf.TokenType.CONTROL and types[300] == gguf.TokenType.NORMAL
    tensors = {t.name: t for t in reader.tensors}
    assert "output.weight" not in tensors  # tied embeddings: llama.cpp reuses token_embd
    assert len(tensors) == 2 + 2 * 9 and tensors["token_embd.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert list(tensors["blk.0.attn_k.weight"].shape) == [32, 16]  # GGUF order: columns first
    assert tensors["blk.1.ffn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32

    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "st", local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "st", local_files_only=True)
    model, gguf_tokenizer, _ = load_gguf(folder)
    assert gguf_tokenizer.chat_template == tokenizer.chat_template
    for prompt in PROMPTS:
        ids = chat_ids(tokenizer, prompt)
        assert torch.equal(ids["input_ids"], chat_ids(gguf_tokenizer, prompt)["input_ids"])
        assert greedy(model, ids) == greedy(plain, ids), prompt

    modelfile = (folder / "Modelfile").read_text()
    assert "FROM ./r-f16.gguf" in modelfile and "{{ .Content }}<|im_end|>" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in modelfile  # the template's default
    card = (folder / "README.md").read_text()
    assert "run **r**" in card and "ollama create" in card and "LM Studio" in card
    assert json.loads(store.one("SELECT settings FROM exports ORDER BY id DESC")["settings"])["format"] == "gguf"


def test_q8_0_answers_within_tolerance_of_f16(store, tiny_model, tmp_path):
    """Measured on the tiny random model: q8_0 logits differ from the float32 export's by at
    most 0.6% of their range (asserted: 2%), the top token agrees at 99.7% of positions, and
    the 12 greedy tokens agree on 5 of the 5 prompts (asserted: 4)."""
    export(store, tiny_model, tmp_path / "st")
    export(store, tiny_model, tmp_path / "q8", fmt="gguf", quant="q8_0")
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "st", local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "st", local_files_only=True)
    model, _, file = load_gguf(tmp_path / "q8")
    reader = gguf.GGUFReader(file)
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == types["token_embd.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["output_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert field(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_Q8_0
    assert file.stat().st_size < 0.6 * sum(p.stat().st_size for p in (tmp_path / "st").glob("*.safetensors"))

    same = 0
    for prompt in PROMPTS:
        ids = chat_ids(tokenizer, prompt)
        with torch.no_grad():
            a, b = plain(**ids).logits, model(**ids).logits
        assert (a - b).abs().max() <= 0.02 * (a.max() - a.min()), prompt
        same += greedy(model, ids) == greedy(plain, ids)
    assert same >= 4  # measured: 5 of 5


def tiny_config_folder(tmp_path, tiny_model_dir, config, name, dtype=torch.float32):
    folder = tmp_path / name
    AutoTokenizer.from_pretrained(tiny_model_dir, local_files_only=True).save_pretrained(folder)
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(config).to(dtype)
    with torch.no_grad():  # random biases: the zeros they start as would hide a misplaced one
        for name_, p in model.named_parameters():
            if name_.endswith("bias"):
                p.normal_(0, 0.5)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.parametrize("kind", ["qwen2", "mistral"])
def test_qwen2_and_mistral_round_trip(store, tiny_model_dir, tmp_path, kind):
    from transformers import MistralConfig, Qwen2Config

    shape = dict(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False)
    config = Qwen2Config(**shape) if kind == "qwen2" else MistralConfig(**shape)
    # (not named plain 'mistral': transformers then asks gguf-py for a 'mistral' architecture it lacks)
    import_model(store, tiny_config_folder(tmp_path, tiny_model_dir, config, kind), name=f"tiny-{kind}")
    export(store, f"tiny-{kind}", tmp_path / "gg", fmt="gguf")
    reader = gguf.GGUFReader(next((tmp_path / "gg").glob("*.gguf")))
    names = {t.name for t in reader.tensors}
    assert field(reader, "general.architecture") == ("qwen2" if kind == "qwen2" else "llama")
    assert "output.weight" in names and ("blk.0.attn_q.bias" in names) == (kind == "qwen2")

    plain = AutoModelForCausalLM.from_pretrained(tmp_path / kind, local_files_only=True).eval()
    model, tokenizer, _ = load_gguf(tmp_path / "gg")
    for prompt in PROMPTS[:3]:
        ids = chat_ids(tokenizer, prompt)
        with torch.no_grad():
            a, b = plain(**ids).logits, model(**ids).logits
        assert (a - b).abs().max() <= 2e-3 * (a.max() - a.min()), prompt  # f16 rounding only
        assert greedy(model, ids) == greedy(plain, ids), prompt


def test_a_bfloat16_base_is_exported_in_bfloat16(store, tiny_model_dir, tmp_path):
    from transformers import LlamaConfig

    config = LlamaConfig(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    import_model(store, tiny_config_folder(tmp_path, tiny_model_dir, config, "bf", torch.bfloat16), name="bf")
    tuned_run(store, "bf")
    result = export(store, "r", tmp_path / "st")
    assert result["dtype"] == "bfloat16"
    with safe_open(str(tmp_path / "st" / "model.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    assert json.loads((tmp_path / "st" / "config.json").read_text())["dtype"] == "bfloat16"
    assert "Weights stored in bfloat16" in (tmp_path / "st" / "README.md").read_text()
    export(store, "r", tmp_path / "gg", fmt="gguf")  # and a bfloat16 folder converts to GGUF
    assert gguf.GGUFReader(tmp_path / "gg" / "r-f16.gguf").tensors[0].tensor_type == gguf.GGMLQuantizationType.F16


def test_an_architecture_gguf_cannot_hold_is_refused_before_anything_is_written(store, tmp_path, tiny_model_dir):
    from transformers import GPT2Config

    config = GPT2Config(vocab_size=1024, n_embd=32, n_layer=1, n_head=2, n_positions=64)
    import_model(store, tiny_config_folder(tmp_path, tiny_model_dir, config, "g2"), name="g2")
    with pytest.raises(InputError, match=r"supports Llama, Mistral and Qwen2 models; this one is a 'gpt2'.*"
                                         r"--format safetensors"):
        export(store, "g2", tmp_path / "out", fmt="gguf")
    assert not (tmp_path / "out").exists() and store.count("exports") == 0
    export(store, "g2", tmp_path / "out")  # the safetensors export still works
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_too_little_disk_space_is_refused_before_anything_is_written(store, tiny_model, tmp_path, monkeypatch):
    import core.store.atomic as atomic

    seen = []
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: seen.append(folder) or 5 * 2**20)
    for fmt in ("gguf", "safetensors"):
        with pytest.raises(InputError, match=r"Not enough free disk space for this export: it needs about \d+ MB "
                                             r"and .* has 5 MB free\. Free some space"):
            export(store, tiny_model, tmp_path / "out", fmt=fmt)
    assert seen == [tmp_path.resolve()] * 2 and not (tmp_path / "out").exists() and store.count("exports") == 0
    assert not list(tmp_path.glob(".out*"))  # no scratch either


def test_the_starter_round_trips_through_the_command_line(starter_home, tmp_path):
    """The README's step 8 on the real starter: f16 answers as the safetensors folder does;
    q8_0 as well on these prompts (measured: the same 8 greedy tokens on all three). Over 8
    prompts and 16 tokens, measured once: f16 logits within 0.06% of their range and 7 of 8
    answers identical (one parts at token 8); q8_0 within 1.9%, the top token the same at 96.6%
    of positions, 6 of 8 answers identical (the others part at tokens 3 and 8)."""
    for args in (["--format", "safetensors"], ["--format", "gguf"], ["--format", "gguf", "--quant", "q8_0"]):
        superhf("export", STARTER_NAME, str(tmp_path / "-".join(args[1::2])), *args, home=starter_home, check=True)
    # the export holds the starter's bfloat16 weights; both sides compute in float32, as the GGUF loads
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "safetensors", dtype=torch.float32,
                                                 local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "safetensors", local_files_only=True)
    for folder in ("gguf", "gguf-q8_0"):
        model, gguf_tokenizer, file = load_gguf(tmp_path / folder)
        assert file.name == f"{STARTER_NAME}-{'q8_0' if 'q8' in folder else 'f16'}.gguf"
        assert "SmolLM" in (tmp_path / folder / "Modelfile").read_text()
        for prompt in PROMPTS[:3]:
            ids = chat_ids(tokenizer, prompt)
            assert torch.equal(ids["input_ids"], chat_ids(gguf_tokenizer, prompt)["input_ids"])
            assert greedy(model, ids, 8) == greedy(plain, ids, 8), (folder, prompt)
        del model


def test_llama3_rope_factors_follow_the_published_formula():
    from core.models.gguf_export import _llama3_rope_factors

    config = {"hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 500000.0,
              "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 8192}}
    factors = _llama3_rope_factors(config)
    assert factors.shape == (64,) and factors.dtype == np.float32
    assert factors[0] == 1.0 and factors[-1] == 8.0  # fast rotations kept, slow ones stretched 8 times
    assert np.all(np.diff(factors) >= 0)


def test_a_sentencepiece_style_tokenizer_is_written_as_llama_cpp_reads_it(store, tmp_path):
    """Mistral and Llama 2 spell words with '▁' and fall back to bytes: written as a 'llama'
    vocabulary with scores and byte tokens, it tokenizes as the original does, bytes included."""
    from transformers import LlamaTokenizer, MistralConfig

    pieces = ["▁", "e", "h", "l", "o", "t", "w", "r", "d", "▁h", "▁t", "he", "ll", "▁the", "▁he", "llo", "▁hello",
              "▁w", "or", "▁wor", "ld", "▁world"]
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + pieces)}
    merges = [("▁", "h"), ("▁", "t"), ("h", "e"), ("l", "l"), ("▁t", "he"), ("▁h", "e"), ("ll", "o"),
              ("▁he", "llo"), ("▁", "w"), ("o", "r"), ("▁w", "or"), ("l", "d"), ("▁wor", "ld")]
    folder = tmp_path / "spm"
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=288, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, bos_token_id=1, eos_token_id=2)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    import_model(store, folder, name="tiny-spm")
    export(store, "tiny-spm", tmp_path / "gg", fmt="gguf")

    reader = gguf.GGUFReader(tmp_path / "gg" / "tiny-spm-f16.gguf")
    assert field(reader, "tokenizer.ggml.model") == "llama" and field(reader, "tokenizer.ggml.add_space_prefix")
    types = field(reader, "tokenizer.ggml.token_type")
    assert types[:4] == [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL, gguf.TokenType.BYTE]
    assert types[-1] == gguf.TokenType.UNUSED and len(types) == 288  # padded to the model's rows
    model, gguf_tokenizer, _ = load_gguf(tmp_path / "gg")
    for text in ["hello the world!", "  hello\nworld", "héllo wörld"]:
        assert gguf_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"], text
    plain = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    ids = tokenizer("hello the world", return_tensors="pt")
    with torch.no_grad():
        assert greedy(model, ids) == greedy(plain, ids)
