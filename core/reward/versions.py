"""Reward models in the workspace: train one from the stored ratings, keep it as a
versioned row with safetensors weights, load it back and score answers with it."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from core.errors import ModelError, NotFoundError
from core.progress import CancelToken, ProgressCallback, report
from core.reward.pairs import (  # noqa: F401
    MIN_PAIRS_FOR_ACCURACY,
    find_reward_model,
    latest_reward_model,
    list_reward_models,
    pairs_from_ratings,
    split_pairs,
)
from core.reward.model import (
    POOLING,
    FeatureCache,
    Featurizer,
    RewardHead,
    RewardSettings,
    backbone_key,
    truncate_backbone,
)
from core.reward.trainer import laplace_covariance, pair_accuracy, pair_uncertainty, train_head, train_lora
from core.store.database import Store, now, to_json

HEAD_FILE = "head.safetensors"
CONFIG_FILE = "reward.json"
ADAPTER_DIR = "adapter"


def default_base(store: Store) -> dict:
    """The policy's base model: the most recently imported model that is not a tuned one."""
    row = store.one("SELECT * FROM models WHERE kind != 'tuned' ORDER BY created_at DESC, id DESC LIMIT 1")
    if row is None:
        raise NotFoundError("There is no model in the workspace to build a reward model on. "
                            "Import one first: superhf model import --starter")
    return row


def load_backbone(path: Path, device: Optional[str] = None):
    """(backbone without its language-model head, tokenizer, device) from a model folder."""
    from transformers import AutoModel, AutoTokenizer

    from core.models.devices import choose_device, choose_dtype
    from core.models.loading import check_model_folder

    if not path.is_dir():
        raise ModelError(f"The reward model's backbone is missing: no model folder at {path}. Put it back, "
                         "or train a new reward model on a model you have (--base).")
    check_model_folder(path)
    device = choose_device(device)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    backbone = AutoModel.from_pretrained(path, dtype=choose_dtype(device), local_files_only=True,
                                         use_safetensors=True, trust_remote_code=False)
    truncate_backbone(backbone)
    return backbone.to(device).eval(), tokenizer, device


def train_reward_model(store: Store, *, name: str = "reward", base: Optional[str] = None,
                       settings: RewardSettings = RewardSettings(), device: Optional[str] = None,
                       on_progress: Optional[ProgressCallback] = None,
                       cancel: Optional[CancelToken] = None) -> dict:
    """Train a reward model on every usable rating in the store; store it as the next
    version of ``name``. Returns the stored row with the training figures."""
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    pairs = pairs_from_ratings(store)
    train, heldout = split_pairs(pairs, settings.seed)
    base_row = store.model(base) if base else default_base(store)
    base_path = Path(base_row["path"])
    report(on_progress, "loading backbone", 0, 1)
    backbone, tokenizer, device = load_backbone(base_path, device)
    featurizer = Featurizer(backbone, tokenizer, device, settings.max_length)
    cache = FeatureCache(store.workspace.cache_dir / "features.db", backbone_key(base_path, settings.max_length))
    try:
        items = sorted({(p.prompt, t) for p in pairs for t in (p.chosen, p.rejected)})
        feats = featurizer.features(items, settings.batch_size, cache,
                                    on_batch=lambda d, t: (cancel.check(), report(on_progress, "reading answers", d, t)))
    finally:
        cache.close()
    index = {item: i for i, item in enumerate(items)}

    def stack(ps, side):  # (P, D) features of one side of each pair
        return feats[[index[(p.prompt, getattr(p, side))] for p in ps]]

    report(on_progress, "training head", 0, 1)
    head = train_head(stack(train, "chosen"), stack(train, "rejected"), settings, cancel)
    report(on_progress, "training head", 1, 1)
    if settings.mode == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                          target_modules="all-linear")
        featurizer.backbone = get_peft_model(backbone, lora)
        train_lora(featurizer, head, train, settings, on_progress, cancel)

    def features(ps, side):  # (P, D), through the adapted backbone in lora mode
        if settings.mode == "fast":
            return stack(ps, side)
        side_items = [(p.prompt, getattr(p, side)) for p in ps]
        with torch.inference_mode():
            return torch.cat([featurizer.forward(side_items[i:i + settings.batch_size]).cpu()
                              for i in range(0, len(side_items), settings.batch_size)])

    head.cpu()
    fc, fr = features(train, "chosen"), features(train, "rejected")
    with torch.no_grad():
        r_train = torch.cat([head(fc), head(fr)])
    covariance = laplace_covariance(head, fc, fr, settings.l2)
    figures = {"pairs": len(pairs), "train_pairs": len(train), "heldout_pairs": len(heldout),
               "train_accuracy": pair_accuracy(r_train[:len(train)], r_train[len(train):]),
               "accuracy": None, "reward_mean": r_train.mean().item(),
               "reward_std": r_train.std().item() if len(r_train) > 1 else 1.0}
    if heldout:
        with torch.no_grad():
            figures["accuracy"] = pair_accuracy(head(features(heldout, "chosen")), head(features(heldout, "rejected")))
    else:
        figures["accuracy_note"] = (f"Only {len(pairs)} comparable pairs: a held-out accuracy needs at least "
                                    f"{MIN_PAIRS_FOR_ACCURACY}. All were used for training; rate more answers.")
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return _save(store, name, base_row, settings, featurizer, head, covariance, figures, pairs, heldout)


def _save(store, name, base_row, settings, featurizer, head, covariance, figures, pairs, heldout) -> dict:
    from safetensors.torch import save_file

    version = (store.one("SELECT max(version) AS v FROM reward_models WHERE name = ?", [name])["v"] or 0) + 1
    target = store.workspace.reward_models_dir / f"{name}-v{version}"
    tmp = Path(tempfile.mkdtemp(prefix="reward-", dir=store.workspace.tmp_dir))
    try:
        head = head.cpu()
        save_file({"weight": head.linear.weight.detach().contiguous(), "bias": head.linear.bias.detach(),
                   "mean": head.mean, "std": head.std, "covariance": covariance.contiguous()},
                  str(tmp / HEAD_FILE))
        if settings.mode == "lora":
            featurizer.backbone.save_pretrained(tmp / ADAPTER_DIR)  # adapters only, as safetensors
        config = {"base_model": base_row["name"], "base_path": base_row["path"], "pooling": POOLING,
                  "settings": settings.to_dict(), "reward_mean": figures["reward_mean"],
                  "reward_std": figures["reward_std"]}
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        if target.exists():  # left by an earlier crash between rename and insert
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data = {"ratings": sorted({i for p in pairs for i in p.rating_ids}),
            "heldout_ratings": sorted({i for p in heldout for i in p.rating_ids}), **figures}
    row = {"name": name, "version": version, "base_model_id": base_row["id"], "path": str(target),
           "settings": to_json(settings.to_dict()), "data": to_json(data), "accuracy": figures["accuracy"],
           "created_at": now()}
    with store.transaction() as db:
        row["id"] = db["reward_models"].insert(row).last_pk
    return {**row, **figures}


class RewardScorer:
    """A stored reward model, loaded to score (prompt, answer) pairs in batches."""

    def __init__(self, row: dict, device: Optional[str] = None):
        from safetensors.torch import load_file

        self.row = row
        folder = Path(row["path"])
        if not (folder / HEAD_FILE).is_file():
            raise ModelError(f"The files of reward model '{row['name']}' v{row['version']} are gone from {folder}. "
                             "Train it again: superhf reward train")
        self.config = json.loads((folder / CONFIG_FILE).read_text())
        self.settings = RewardSettings(**self.config["settings"])
        backbone, tokenizer, device = load_backbone(Path(self.config["base_path"]), device)
        if (folder / ADAPTER_DIR).is_dir():
            from peft import PeftModel

            backbone = PeftModel.from_pretrained(backbone, folder / ADAPTER_DIR).eval()
        self.featurizer = Featurizer(backbone, tokenizer, device, self.settings.max_length)
        tensors = load_file(str(folder / HEAD_FILE))
        self.head = RewardHead(tensors["mean"], tensors["std"])
        self.head.linear.weight.data.copy_(tensors["weight"])
        self.head.linear.bias.data.copy_(tensors["bias"])
        self.head.to(device).eval()
        self.covariance = tensors["covariance"]

    @classmethod
    def load(cls, store: Store, name: str, version: Optional[int] = None, device: Optional[str] = None):
        return cls(find_reward_model(store, name, version), device)

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], completions: Sequence[str], batch_size: Optional[int] = None,
              cancel: Optional[CancelToken] = None, on_progress: Optional[ProgressCallback] = None,
              cache: Optional[FeatureCache] = None) -> list[float]:
        """Raw rewards (higher is better) of each (prompt, completion). A fast-mode model can
        read features from ``cache`` (its backbone is frozen, so cached features hold)."""
        assert len(prompts) == len(completions)
        items = list(zip(prompts, completions))
        if not items:
            return []

        def on_batch(done, total):
            if cancel is not None:
                cancel.check()
            report(on_progress, "scoring", done, total)

        feats = self.featurizer.features(items, batch_size or self.settings.batch_size,
                                         cache if self.settings.mode == "fast" else None, on_batch)
        return self.head(feats.to(self.featurizer.device)).float().cpu().tolist()

    def feature_cache(self, store: Store) -> FeatureCache:
        return FeatureCache(store.workspace.cache_dir / "features.db",
                            backbone_key(Path(self.config["base_path"]), self.settings.max_length))

    @torch.inference_mode()
    def judge_pairs(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str],
                    cache: Optional[FeatureCache] = None, on_progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None) -> tuple[list[float], list[float]]:
        """For each pair: the model's guess P(a preferred) and what a person's answer would
        teach it (``pair_uncertainty``)."""
        items = sorted(set(zip(prompts, a)) | set(zip(prompts, b)))
        if not items:
            return [], []

        def on_batch(done, total):
            if cancel is not None:
                cancel.check()
            report(on_progress, "judging answers", done, total)

        feats = self.featurizer.features(items, self.settings.batch_size,
                                         cache if self.settings.mode == "fast" else None, on_batch).cpu()
        index = {item: i for i, item in enumerate(items)}
        f_a = feats[[index[x] for x in zip(prompts, a)]]
        f_b = feats[[index[x] for x in zip(prompts, b)]]
        guess, information = pair_uncertainty(self.head.cpu(), self.covariance, f_a, f_b)
        return guess.tolist(), information.tolist()

    def readable(self, reward: float) -> float:
        """A reward on the scale of the training answers: 0 is their mean, 1 one standard deviation."""
        return (reward - self.config["reward_mean"]) / (self.config["reward_std"] or 1.0)
