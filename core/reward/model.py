"""The reward model: a scalar head on the pooled features of a transformer backbone,
trained with the Bradley-Terry loss. Settings, the loss, the features and their cache."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError
from core.reward.config import RewardSettings  # noqa: F401  (declared there, torch-free; imported from here too)
from core.sampling.generation import bos_ids, format_prompt, position_ids
from core.store.features import FeatureFile

POOLING = "answer-mean@0.6+last@2/3/v4"  # bump when the features change, so cached ones are not reused
LEGACY_POOLING = "answer-mean@2/3/v3"  # reward models trained before: the answer-mean of the top kept block


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


MEAN_DEPTH = 0.6  # the answer-mean is read this far up the kept blocks (12 of SmolLM2's 20 kept of 30)


def pool(hidden: torch.Tensor, answer_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) hidden states -> (B, H): the mean over the answer's tokens. The prompt and
    the chat template are the same for every answer to a prompt, so they are left out: a
    mean over them would drown what the answers differ in."""
    mask = answer_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float()


def final_norm(backbone):
    """The backbone's last normalisation (applied to the top block's output), or None."""
    for attr in ("norm", "ln_f", "final_layernorm", "final_layer_norm"):
        module = getattr(backbone, attr, None)
        if isinstance(module, nn.Module):
            return module
    return None


def views(dim: int) -> dict[str, slice]:
    """The ways a head may read the features (``Featurizer``: [answer mean, last token]), by
    which part of them it uses; cross-validation chooses among them for each person's ratings.
    'what' suits tastes in what an answer says (its words, its tone), 'ending' tastes in how it
    ends (finished or cut off, how it closes), 'both' both. The first is preferred on a tie."""
    half = dim // 2
    return {"what": slice(0, half), "ending": slice(half, dim), "both": slice(0, dim)}


class Featurizer:
    """Features of (prompt, answer) pairs from a backbone (any causal LM folder, cut by
    ``truncate_backbone``): the mean of the answer's tokens a little past the middle of the
    kept blocks (``MEAN_DEPTH``; what the answer says) beside the top block's state at the
    answer's last token (how it ends: the last token has read all of it). (B,) -> (B, 2H)"""

    def __init__(self, backbone, tokenizer, device: str, max_length: int = 512, pooling: str = POOLING):
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"  # every text ends at the last position
        self.tokenizer.truncation_side = "left"  # a long exchange keeps the answer's end
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.max_length = max_length
        self.pooling = pooling  # LEGACY_POOLING reads features as reward models trained before did

    def encode(self, items: Sequence[tuple[str, str]]) -> tuple[list[list[int]], list[int]]:
        """The token ids the backbone reads for each (prompt, answer), and how many of the last
        of them are the answer's. At most ``max_length`` tokens: a longer exchange loses the
        start of its prompt (then of its answer), never the answer's end, and keeps the BOS
        where the tokenizer uses one."""
        tok = self.tokenizer
        bos = bos_ids(tok)
        fulls = tok([pair_text(tok, p, a) for p, a in items], add_special_tokens=False)["input_ids"]
        prompts = tok([pair_text(tok, p, "") for p, _ in items], add_special_tokens=False)["input_ids"]
        rows, answers = [], []
        for ids, prompt in zip(fulls, prompts):
            answer = len(ids) - len(prompt)
            if bos and ids[:1] == bos:
                ids = ids[1:]
            ids = ids[-(self.max_length - len(bos)):] if self.max_length > len(bos) else ids[-1:]
            rows.append(bos + ids)
            # An empty answer still gets its final position, so every text has a feature.
            answers.append(max(1, min(answer, len(ids))))
        return rows, answers

    def forward(self, items: Sequence[tuple[str, str]]) -> torch.Tensor:
        """Features with gradients through any trainable part of the backbone.
        (B,) (prompt, answer) -> (B, H)"""
        rows, answers = self.encode(items)
        T = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), T), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: every text ends at the last position
            ids[i, T - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, T - len(r):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = position_ids(mask)  # padding does not shift a text's positions
        # The answer is the last ``answers[i]`` tokens of each row.
        answer_mask = torch.arange(T, device=self.device).unsqueeze(0) >= (
            T - torch.tensor(answers, device=self.device)).unsqueeze(1)  # (B, T)
        if self.pooling == LEGACY_POOLING:
            hidden = self.backbone(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
            return pool(hidden, answer_mask)
        out = self.backbone(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True)
        hidden = out.last_hidden_state  # (B, T, H), the top block's, normalised
        states = getattr(out, "hidden_states", None)  # the embeddings', then each block's
        middle = hidden
        if states is not None and len(states) > 2:
            middle = states[max(1, round((len(states) - 1) * MEAN_DEPTH))]
            norm = final_norm(self.backbone)
            middle = norm(middle) if norm is not None else middle
        return torch.cat([pool(middle, answer_mask), hidden[:, -1].float()], -1)

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

    def __init__(self, path: Path, backbone_key: str, pooling: str = POOLING):
        self.file = FeatureFile(path)
        self.prefix = f"{backbone_key}|{pooling}|"

    def _key(self, text: str) -> str:
        return hashlib.sha256((self.prefix + text).encode("utf-8")).hexdigest()

    def get(self, text: str) -> Optional[torch.Tensor]:
        found = self.file.get(self._key(text))
        if found is None:
            return None
        dim, data = found
        return torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(dim)

    def put(self, text: str, vector: torch.Tensor) -> None:
        data = vector.detach().to(torch.float32).contiguous().numpy().tobytes()
        self.file.put(self._key(text), vector.numel(), data)

    def commit(self) -> None:
        self.file.commit()

    def close(self) -> None:
        self.file.close()


def backbone_key(folder: Path, max_length: int) -> str:
    """Identifies a backbone's weights without hashing gigabytes: path, sizes and times."""
    parts = [str(folder.resolve()), str(max_length)]
    for f in sorted(folder.glob("*.safetensors")):
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]
