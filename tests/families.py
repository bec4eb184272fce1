"""Tiny random models of the families users bring (Llama 3, Qwen2, Gemma, Phi-3, Mistral,
GPT-2), each with a tokenizer shaped like its family's, built offline in a few milliseconds.

A tokenizer here is a small BPE trained in memory on a few sentences: byte-level like the
real Llama 3, Qwen2 and GPT-2 ones, SentencePiece-style (``▁`` for spaces) like Gemma's,
Phi-3's and Mistral's. It carries the family's special tokens, adds BOS where the family's
tokenizer does, and has a hand-written chat template in the family's real format (GPT-2 has
none: the app's fallback template applies). Each is saved beside random weights as a model
folder, to be loaded by the app's own loader."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

CORPUS = [
    "Tell me about the sea. The sea is wide and blue, and it is full of fish.",
    "What is two and two? Two and two make four.",
    "Name a colour. Red, green and blue are colours.",
    "Write a short poem about the moon at night.",
    "How do birds fly? They beat their wings and ride the wind.",
    "Hello! How are you today? I am well, thank you.",
    string.ascii_letters + string.digits + string.punctuation,
] * 4

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
CHATML_TEMPLATE = (  # Qwen2.5's, with its default system turn
    "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
PHI3_TEMPLATE = (  # Phi-3 mini's later template: no BOS written, the tokenizer adds it
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<|end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}")


@dataclass(frozen=True)
class Family:
    name: str
    config_class: str  # the transformers config class
    byte_level: bool  # byte-level BPE (GPT-2 style) or SentencePiece style
    specials: tuple[str, ...]  # special tokens, ids 0, 1, ... in this order
    eos: str
    end_of_turn: str  # the token that ends the model's turn
    bos: Optional[str] = None  # the BOS token, if the family has one
    adds_bos: bool = False  # whether its tokenizer puts BOS before every text
    pad: Optional[str] = None
    template: Optional[str] = None
    config: dict = field(default_factory=dict)  # family-specific config settings
    prepend: str = "first"  # SentencePiece style: "▁" before a text's first word (Gemma: never)


FAMILIES = (
    Family("llama3", "LlamaConfig", True,
           ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
           eos="<|end_of_text|>", end_of_turn="<|eot_id|>", bos="<|begin_of_text|>", adds_bos=True,
           template=LLAMA3_TEMPLATE),
    Family("qwen2", "Qwen2Config", True, ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
           eos="<|im_end|>", end_of_turn="<|im_end|>", pad="<|endoftext|>", template=CHATML_TEMPLATE),
    Family("gemma", "GemmaConfig", False, ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
           eos="<eos>", end_of_turn="<end_of_turn>", bos="<bos>", adds_bos=True, pad="<pad>",
           template=GEMMA_TEMPLATE, config=dict(head_dim=8), prepend="never"),
    Family("phi3", "Phi3Config", False,
           ("<unk>", "<s>", "</s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
           eos="<|endoftext|>", end_of_turn="<|end|>", bos="<s>", adds_bos=True, pad="<|endoftext|>",
           template=PHI3_TEMPLATE),
    Family("mistral", "MistralConfig", False, ("<unk>", "<s>", "</s>", "[INST]", "[/INST]"),
           eos="</s>", end_of_turn="</s>", bos="<s>", adds_bos=True, template=MISTRAL_TEMPLATE),
    Family("gpt2", "GPT2Config", True, ("<|endoftext|>",), eos="<|endoftext|>", end_of_turn="<|endoftext|>",
           bos="<|endoftext|>"),
)


def build_tokenizer(family: Family, vocab_size: int = 384):
    """The family's tokenizer, trained in memory (no file, no network)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if family.byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        unk = "<unk>" if "<unk>" in family.specials else None
        tok = Tokenizer(models.BPE(unk_token=unk))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=family.prepend)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=family.prepend)
        alphabet = sorted(set("".join(CORPUS)) | {"▁", "\n"})
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(family.specials),
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    if family.adds_bos:
        bos = tok.token_to_id(family.bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{family.bos} $A", pair=f"{family.bos} $A {family.bos} $B", special_tokens=[(family.bos, bos)])
    elif family.byte_level:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=family.bos, eos_token=family.eos,
                                      pad_token=family.pad,
                                      unk_token="<unk>" if "<unk>" in family.specials else None,
                                      additional_special_tokens=[t for t in family.specials
                                                                 if t not in (family.bos, family.eos, family.pad)])
    if family.template:
        wrapped.chat_template = family.template
    return wrapped


def model_config(family: Family, tokenizer, **overrides):
    """A tiny random config of the family's architecture (a few hundred thousand parameters)."""
    import transformers

    cls = getattr(transformers, family.config_class)
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    if family.config_class == "GPT2Config":
        settings = dict(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=256)
    else:
        settings = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return cls(**{**settings, **ids, **family.config, **overrides})


def save_family(family: Family, folder: Path, seed: int = 0, **config) -> Path:
    """The family's tokenizer and random weights (``config`` overrides settings) as a model folder."""
    import torch
    from transformers import AutoModelForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(family)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(model_config(family, tokenizer, **config))
    model.save_pretrained(folder, safe_serialization=True)
    return folder
