"""Reward models in the workspace: train one from the stored ratings, keep it as a
versioned row with safetensors weights, load it back and score answers with it."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from core.errors import ModelError, NotFoundError
from core.progress import CancelToken, ProgressCallback, report
from core.reward.fit import (
    FOLDS,
    MIN_PROMPTS_FOR_CV,
    PairData,
    accuracy_figures,
    cross_validate,
    fit_best,
    group_folds,
)
from core.reward.pairs import MIN_PAIRS_FOR_ACCURACY, pairs_from_ratings
from core.reward.model import (
    POOLING,
    FeatureCache,
    Featurizer,
    RewardHead,
    RewardSettings,
    backbone_key,
    truncate_backbone,
    views,
)
from core.reward.trainer import laplace_covariance, pair_accuracy, pair_uncertainty, train_lora
from core.store.atomic import atomic_folder
from core.store.database import Store, now, to_json
from core.store.models import get_model, newest_base_model
from core.store.reward_models import find_reward_model, insert_reward_model, next_version

HEAD_FILE = "head.safetensors"
CONFIG_FILE = "reward.json"
ADAPTER_DIR = "adapter"


def default_base(store: Store) -> dict:
    """The policy's base model: the most recently imported model that is not a tuned one."""
    row = newest_base_model(store)
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
    """Train a reward model on every usable rating in the store (``pairs_from_ratings``: not
    the blind comparisons); store it as the next version of ``name``. Returns the stored row
    with the training figures, among them its accuracy on prompts it never saw: in fast mode
    by cross-validation over prompts (every pair judged by a head trained without its prompt,
    the final head trained on all), in lora mode on a fifth of the prompts held out; with a 95%
    Wilson interval (``accuracy_low``, ``accuracy_high``) on ``accuracy_pairs`` judged pairs."""
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    pairs = pairs_from_ratings(store)
    base_row = get_model(store, base) if base else default_base(store)
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

    std = torch.cat([stack(pairs, "chosen"), stack(pairs, "rejected")]).std(0, unbiased=False).clamp(min=1e-4)
    x = (stack(pairs, "chosen") - stack(pairs, "rejected")) / std  # label-free standardisation, as the head's
    target = torch.tensor([p.target for p in pairs])
    weights = torch.tensor([p.weight for p in pairs])
    groups = [p.prompt for p in pairs]
    parts = views(x.shape[1])
    all_views = {name: PairData(x[:, part], target, weights, groups) for name, part in parts.items()}
    hard = [p for p in pairs if not p.tie]
    enough = len(hard) >= MIN_PAIRS_FOR_ACCURACY and len(set(groups)) >= MIN_PROMPTS_FOR_CV
    l2 = settings.l2 or None  # None: chosen by cross-validation, in each fold too
    report(on_progress, "measuring accuracy", 0, 1)
    margins = None
    if settings.mode == "fast":
        keep, judge = list(range(len(pairs))), list(range(len(pairs)))
        if enough:
            margins = cross_validate(all_views, l2, seed=settings.seed)
        method = f"{min(FOLDS, len(set(groups)))}-fold cross-validation by prompt"
    else:  # LoRA is too slow to train once per fold: a fifth of the prompts is held out instead
        fold = group_folds(groups, FOLDS, settings.seed) if enough else [1] * len(pairs)
        keep = [i for i, f in enumerate(fold) if f != 0]
        judge = [i for i, f in enumerate(fold) if f == 0]
        method = "held-out prompts (a fifth of them)"
    train, judged = [pairs[i] for i in keep], [pairs[i] for i in judge]
    cancel.check()
    report(on_progress, "training head", 0, 1)
    w, view, head_l2 = fit_best({k: v.take(keep) for k, v in all_views.items()}, parts, x.shape[1], l2,
                                settings.seed, settings.steps)
    head = RewardHead(torch.cat([stack(train, "chosen"), stack(train, "rejected")]).mean(0), std)
    with torch.no_grad():
        head.linear.weight.copy_(w.unsqueeze(0))
    head.eval()
    report(on_progress, "training head", 1, 1)
    if settings.mode == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                          target_modules="all-linear")
        featurizer.backbone = get_peft_model(backbone, lora)
        train_lora(featurizer, head, [p for p in train if not p.tie], settings, on_progress, cancel)

    def features(ps, side):  # (P, D), through the adapted backbone in lora mode
        if settings.mode == "fast" or not ps:
            return stack(ps, side)
        side_items = [(p.prompt, getattr(p, side)) for p in ps]
        with torch.inference_mode():
            return torch.cat([featurizer.forward(side_items[i:i + settings.batch_size]).cpu()
                              for i in range(0, len(side_items), settings.batch_size)])

    head.cpu()
    train_hard = [p for p in train if not p.tie]
    fc, fr = features(train, "chosen"), features(train, "rejected")
    with torch.no_grad():
        r_train = torch.cat([head(fc), head(fr)])
        hard_mask = torch.tensor([not p.tie for p in train])
    covariance = laplace_covariance(head, fc, fr, head_l2, parts[view])
    if settings.mode == "lora" and enough and judged:
        with torch.no_grad():
            margins = head(features(judged, "chosen")) - head(features(judged, "rejected"))
    judged_target = torch.tensor([p.target for p in judged])
    figures = {"pairs": len(pairs), "ties": len(pairs) - len(hard), "train_pairs": len(train),
               "train_accuracy": pair_accuracy(r_train[:len(train)][hard_mask], r_train[len(train):][hard_mask])
               if train_hard else None,
               "reward_mean": r_train.mean().item(),
               "reward_std": r_train.std().item() if len(r_train) > 1 else 1.0, "l2": head_l2, "view": view,
               "min_pairs": MIN_PAIRS_FOR_ACCURACY}
    if margins is not None:
        figures.update(accuracy_figures(margins, judged_target, [p.prompt for p in judged]), accuracy_method=method)
        figures["heldout_pairs"] = figures["accuracy_pairs"]
        judged_hard = [(p, m) for p, m in zip(judged, margins.tolist()) if not p.tie]
        out_of_fold = [{"ratings": list(p.rating_ids), "guess": 1 / (1 + math.exp(-m))} for p, m in judged_hard]
    else:
        figures.update(accuracy=None, accuracy_low=None, accuracy_high=None, accuracy_pairs=0, heldout_pairs=0,
                       accuracy_effective_pairs=0.0, accuracy_method=None)
        judged_hard, out_of_fold = [], []
        figures["accuracy_note"] = (
            f"Only {len(hard)} comparable pairs: an accuracy on unseen prompts needs at least "
            f"{MIN_PAIRS_FOR_ACCURACY}. All were used for training; rate more answers."
            if len(hard) < MIN_PAIRS_FOR_ACCURACY else
            "All your ratings are on one prompt, so there is no prompt it has not seen to measure it on. "
            "All were used for training; rate answers to other prompts too.")
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return _save(store, name, base_row, settings, featurizer, head, covariance, figures, pairs,
                 [p for p, _ in judged_hard], out_of_fold)


def _save(store, name, base_row, settings, featurizer, head, covariance, figures, pairs, heldout,
          out_of_fold) -> dict:
    from safetensors.torch import save_file

    version = next_version(store, name)
    target = store.workspace.reward_models_dir / f"{name}-v{version}"
    # a folder already there was left by an earlier crash between rename and insert: replaced
    with atomic_folder(target, scratch=store.workspace.tmp_dir, prefix="reward-") as tmp:
        head = head.cpu()
        save_file({"weight": head.linear.weight.detach().contiguous(), "bias": head.linear.bias.detach(),
                   "mean": head.mean, "std": head.std, "covariance": covariance.contiguous()},
                  str(tmp / HEAD_FILE))
        if settings.mode == "lora":
            featurizer.backbone.save_pretrained(tmp / ADAPTER_DIR)  # adapters only, as safetensors
        config = {"base_model": base_row["name"], "base_path": base_row["path"], "pooling": POOLING,
                  "settings": settings.to_dict(), "view": figures["view"], "reward_mean": figures["reward_mean"],
                  "reward_std": figures["reward_std"]}
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    data = {"ratings": sorted({i for p in pairs for i in p.rating_ids}),
            "heldout_ratings": sorted({i for p in heldout for i in p.rating_ids}), **figures,
            "out_of_fold": out_of_fold}  # each judged pair's ratings and the guess of a head that never saw its prompt
    row = {"name": name, "version": version, "base_model_id": base_row["id"], "path": str(target),
           "settings": to_json(settings.to_dict()), "data": to_json(data), "accuracy": figures["accuracy"],
           "created_at": now()}
    row["id"] = insert_reward_model(store, row)
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
        self.pooling = self.config.get("pooling", POOLING)  # a model trained before reads its own features
        self.featurizer = Featurizer(backbone, tokenizer, device, self.settings.max_length, self.pooling)
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
                            backbone_key(Path(self.config["base_path"]), self.settings.max_length), self.pooling)

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
