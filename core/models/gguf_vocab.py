"""The tokenizer of a Hugging Face model folder as GGUF metadata, the way llama.cpp-based
tools read it: the vocabulary in id order with a type per token, the merges, the special
token ids, whether BOS/EOS are added, and the chat template.

Two kinds of tokenizer are written: byte-level BPE (``tokenizer.ggml.model = gpt2``: GPT-2,
SmolLM, Llama 3, Qwen2) and SentencePiece-style BPE with byte fallback (``llama``: Llama 2,
Mistral). Anything else is refused with a plain message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import gguf

from core.errors import InputError

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = (int(t) for t in (
    gguf.TokenType.NORMAL, gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.USER_DEFINED,
    gguf.TokenType.UNUSED, gguf.TokenType.BYTE))


@dataclass
class Vocab:
    model: str  # "gpt2" (byte-level BPE) or "llama" (SentencePiece-style)
    pre: str  # how llama.cpp splits text before BPE ("default" when we cannot tell)
    tokens: list[str]
    types: list[int]
    scores: Optional[list[float]]  # SentencePiece-style only
    add_space_prefix: Optional[bool] = None
    add_bos: bool = False
    add_eos: bool = False
    chat_template: Optional[str] = None
    special: gguf.SpecialVocab = field(default=None, repr=False)  # merges and special ids, read by gguf

    def write(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        self.special.chat_template = None  # ours, below: read from wherever transformers keeps it
        self.special.add_special_token = {}
        self.special.add_to_gguf(writer, quiet=True)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(self.add_eos)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)


def read_vocab(folder: Path, vocab_size: int) -> Vocab:
    """The tokenizer of ``folder`` (with a ``tokenizer.json``), padded to the model's
    ``vocab_size`` rows with unused tokens, as llama.cpp expects."""
    from transformers import AutoTokenizer

    spec_file = folder / "tokenizer.json"
    if not spec_file.is_file():
        raise InputError(f"{folder} has no tokenizer.json, so its tokenizer cannot be written into a GGUF file. "
                         "Export with --format safetensors instead.")
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    if max(by_id) >= vocab_size:
        raise InputError(f"The tokenizer in {folder} has more tokens ({max(by_id) + 1}) than the model has rows "
                         f"({vocab_size}); the GGUF file would be broken. Export with --format safetensors instead.")
    added = tokenizer.added_tokens_decoder
    kind = _kind(spec)
    tokens, types, scores = [], [], []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        else:
            tokens.append(token)
            types.append(_type(token, added.get(i), tokenizer.unk_token_id == i, kind))
        scores.append(0.0 if types[-1] != NORMAL else -float(i))  # SentencePiece BPE: earlier pieces merge first
    probe = tokenizer("a")["input_ids"]
    return Vocab(
        model=kind, pre=_pre(spec) if kind == "gpt2" else "default", tokens=tokens, types=types,
        scores=scores if kind == "llama" else None,
        add_space_prefix=_adds_space_prefix(spec) if kind == "llama" else None,
        add_bos=tokenizer.bos_token_id is not None and probe[:1] == [tokenizer.bos_token_id],
        add_eos=tokenizer.eos_token_id is not None and probe[-1:] == [tokenizer.eos_token_id] and len(probe) > 1,
        chat_template=tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None,
        special=gguf.SpecialVocab(folder, load_merges=True, n_vocab=vocab_size))


def _kind(spec: dict) -> str:
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise InputError(f"This model's tokenizer is a {model.get('type') or 'kind'} tokenizer; only BPE "
                         "tokenizers can be written into a GGUF file yet. Export with --format safetensors instead.")
    if "ByteLevel" in _types(spec.get("pre_tokenizer")):
        return "gpt2"
    if model.get("byte_fallback") or "Metaspace" in _types(spec.get("pre_tokenizer")) | _types(spec.get("normalizer")):
        return "llama"
    raise InputError("This model's BPE tokenizer is neither byte-level nor SentencePiece-style, so it cannot be "
                     "written into a GGUF file yet. Export with --format safetensors instead.")


def _types(node) -> set[str]:
    """Every component type in a tokenizer.json pre-tokenizer or normalizer (sequences opened)."""
    if not isinstance(node, dict):
        return set()
    found = {node.get("type")}
    for child in node.get("pretokenizers") or node.get("normalizers") or []:
        found |= _types(child)
    if node.get("type") == "Replace" and (node.get("content") == "\u2581"):
        found.add("Metaspace")  # a normalizer that turns spaces into the SentencePiece mark
    return found


def _pre(spec: dict) -> str:
    """llama.cpp's name for the way a byte-level tokenizer splits text, told from its rules."""
    pre = spec.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre])
    regexes = [p.get("pattern", {}).get("Regex", "") for p in parts if p.get("type") == "Split"]
    if any(r"\p{N}{1,3}" in r for r in regexes):
        return "llama-bpe"
    if any(r"|\p{N}|" in r for r in regexes):
        return "qwen2"
    kinds = [p.get("type") for p in parts]
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt2"
    return "default"


def _adds_space_prefix(spec: dict) -> bool:
    for node in [spec.get("pre_tokenizer"), spec.get("normalizer")]:
        for part in (node or {}).get("pretokenizers") or (node or {}).get("normalizers") or [node or {}]:
            if part.get("type") == "Metaspace":
                return part.get("prepend_scheme", "always") != "never" and part.get("add_prefix_space", True)
            if part.get("type") == "Prepend" and part.get("prepend") == "\u2581":
                return True
    return False


def _type(token: str, added, is_unk: bool, kind: str) -> int:
    if is_unk:
        return UNKNOWN if kind == "llama" else CONTROL
    if added is not None:
        return CONTROL if added.special else USER_DEFINED
    if kind == "llama" and len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        return BYTE
    return NORMAL
