"""The reward model: a scalar head on the pooled features of a transformer backbone,
trained with the Bradley-Terry loss. Settings, the loss, the features and their cache."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError
from core.sampling.generation import format_prompt

MODES = ("fast", "lora")
POOLING = "answer-mean@2/3/v2"  # bump when the features change, so cached ones are not reused


@dataclass(frozen=True)
class RewardSettings:
    """How a reward model is trained. The defaults suit the few dozen to few hundred ratings
    one person gives in an afternoon."""

    mode: str = "fast"  # fast: frozen backbone, cached features, head only; lora: adapt the backbone too
    steps: int = 400  # fast: full-batch optimiser steps on the head (a second or two on CPU)
    head_lr: float = 1e-2
    l2: float = 0.1  # ridge penalty on the head: few ratings, hundreds of features (bench reward)
    epochs: int = 4  # lora: passes over the training pairs
    lora_lr: float = 2e-4
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    batch_size: int = 8  # texts per backbone forward pass
    max_length: int = 512  # tokens of prompt + answer seen; longer ones keep their end
    seed: int = 0  # fixes the held-out split and the training

    def __post_init__(self):
        if self.mode not in MODES:
            raise InputError(f"The reward model mode must be 'fast' or 'lora', not '{self.mode}'.")
        for name in ("steps", "epochs", "lora_r", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, not {getattr(self, name)}.")
        for name in ("head_lr", "lora_lr"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be above 0, not {getattr(self, name)}.")

    def to_dict(self) -> dict:
        return asdict(self)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """-log P(chosen beats rejected) under Bradley-Terry, P = sigmoid(r_chosen - r_rejected),
    averaged over pairs. (B,), (B,) -> scalar."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def pair_text(tokenizer, prompt: str, completion: str) -> str:
    """The exchange as the backbone would see it: its chat template, the answer as the reply."""
    return format_prompt(tokenizer, prompt) + completion


class RewardHead(nn.Module):
    """A linear score of standardised features: r = w . (f - mean) / std + b."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.linear = nn.Linear(mean.numel(), 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B,)
        return self.linear((features - self.mean) / self.std).squeeze(-1)


FEATURE_DEPTH = 2 / 3  # features from this far up the backbone: linear probes read middle layers best


def truncate_backbone(backbone) -> int:
    """Keep the backbone's blocks up to FEATURE_DEPTH and drop the rest: their output is
    never read, so this saves a third of the work. Returns the number of blocks kept."""
    for attr in ("layers", "h", "blocks"):
        blocks = getattr(backbone, attr, None)
        if isinstance(blocks, nn.ModuleList) and len(blocks) > 1:
            keep = max(1, round(len(blocks) * FEATURE_DEPTH))
            setattr(backbone, attr, blocks[:keep])
            if hasattr(backbone.config, "num_hidden_layers"):
                backbone.config.num_hidden_layers = keep
            return keep
    raise InputError(f"Cannot find the transformer blocks of a {type(backbone).__name__} to build a reward "
                     "model on; choose another base model with --base.")


def pool(hidden: torch.Tensor, answer_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) hidden states -> (B, H): the mean over the answer's tokens. The prompt and
    the chat template are the same for every answer to a prompt, so they are left out: a
    mean over them would drown what the answers differ in."""
    mask = answer_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float()


class Featurizer:
    """Pooled features of (prompt, answer) pairs from a backbone (any causal LM folder, cut
    by ``truncate_backbone``)."""

    def __init__(self, backbone, tokenizer, device: str, max_length: int = 512):
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"  # every text ends at the last position
        self.tokenizer.truncation_side = "left"  # a long exchange keeps the answer's end
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.max_length = max_length

    def forward(self, items: Sequence[tuple[str, str]]) -> torch.Tensor:
        """Features with gradients through any trainable part of the backbone.
        (B,) (prompt, answer) -> (B, H)"""
        texts = [pair_text(self.tokenizer, p, a) for p, a in items]
        prompt_lengths = [len(ids) for ids in self.tokenizer(
            [pair_text(self.tokenizer, p, "") for p, _ in items], add_special_tokens=False)["input_ids"]]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_length, add_special_tokens=False).to(self.device)
        lengths = enc["attention_mask"].sum(1).tolist()
        T = enc["input_ids"].shape[1]
        positions = torch.arange(T, device=self.device).unsqueeze(0)  # (1, T)
        # With left padding the answer is the last (length - prompt length) tokens; an empty
        # answer still gets its final position, so every text has a feature.
        answer_tokens = torch.tensor([max(1, n - p) for n, p in zip(lengths, prompt_lengths)], device=self.device)
        answer_mask = positions >= (T - answer_tokens).unsqueeze(1)  # (B, T)
        hidden = self.backbone(**enc).last_hidden_state
        return pool(hidden, answer_mask)

    @torch.inference_mode()
    def features(self, items: Sequence[tuple[str, str]], batch_size: int = 8,
                 cache: Optional["FeatureCache"] = None, on_batch=None) -> torch.Tensor:
        """(N,) (prompt, answer) pairs -> (N, H) features, from the cache where it has them."""
        keys = [f"{p}\x00{a}" for p, a in items]
        out: list[Optional[torch.Tensor]] = [cache.get(k) if cache else None for k in keys]
        todo = [i for i, f in enumerate(out) if f is None]
        for start in range(0, len(todo), batch_size):
            idx = todo[start:start + batch_size]
            feats = self.forward([items[i] for i in idx]).cpu()
            for i, f in zip(idx, feats):
                out[i] = f
                if cache:
                    cache.put(keys[i], f)
            if cache:
                cache.commit()
            if on_batch:
                on_batch(min(start + batch_size, len(todo)), len(todo))
        if not items:
            return torch.empty(0)
        return torch.stack(out)  # type: ignore[arg-type]


class FeatureCache:
    """Features of a frozen backbone, kept in a small SQLite file in the workspace's cache
    folder: retraining the head on more ratings computes only the new answers' features.
    Deleting the file is always safe."""

    def __init__(self, path: Path, backbone_key: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, dim INTEGER, vector BLOB)")
        self.prefix = f"{backbone_key}|{POOLING}|"

    def _key(self, text: str) -> str:
        return hashlib.sha256((self.prefix + text).encode("utf-8")).hexdigest()

    def get(self, text: str) -> Optional[torch.Tensor]:
        row = self.conn.execute("SELECT dim, vector FROM features WHERE key = ?", [self._key(text)]).fetchone()
        if row is None:
            return None
        return torch.frombuffer(bytearray(row[1]), dtype=torch.float32).reshape(row[0])

    def put(self, text: str, vector: torch.Tensor) -> None:
        data = vector.detach().to(torch.float32).contiguous().numpy().tobytes()
        self.conn.execute("INSERT OR REPLACE INTO features VALUES (?, ?, ?)", [self._key(text), vector.numel(), data])

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def backbone_key(folder: Path, max_length: int) -> str:
    """Identifies a backbone's weights without hashing gigabytes: path, sizes and times."""
    parts = [str(folder.resolve()), str(max_length)]
    for f in sorted(folder.glob("*.safetensors")):
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]
