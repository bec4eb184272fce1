"""Export a tuned model (or any workspace model) as a Hugging Face folder that plain
``transformers`` loads: ``model.safetensors`` with the LoRA merged in, config, tokenizer,
generation config and a model card that says where it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from core.errors import InputError, NotFoundError
from core.models.loading import copy_model_files
from core.store.atomic import atomic_folder
from core.store.database import Store, now, to_json
from core.store.exports import record_export
from core.store.models import find_model, model_row
from core.store.reward_models import reward_model_row
from core.store.runs import find_run


def export(store: Store, source: str, outdir: Path, *, force: bool = False, adapter_only: bool = False,
           device: Optional[str] = None) -> dict:
    """``source`` names a run (its last checkpoint) or a model. The folder is written next to
    ``outdir`` and renamed into place: an interrupted export leaves no half folder."""
    outdir = Path(outdir).expanduser().resolve()
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())) and not force:
        raise InputError(f"{outdir} exists and is not empty. Choose an empty or new folder, or add --force "
                         "to replace it.")
    if not outdir.parent.is_dir():
        raise NotFoundError(f"No such folder: {outdir.parent}")
    run = find_run(store, source)
    model = find_model(store, source)
    if run is None and model is None:
        raise NotFoundError(f"No run or model named '{source}'. 'superhf runs list' and 'superhf model list' "
                            "show what there is.")
    with atomic_folder(outdir) as tmp:  # an existing (empty, or --force) folder is replaced
        if run is not None:
            info = _export_run(store, run, tmp, adapter_only, device)
        else:
            info = _export_model(model, tmp)
        (tmp / "README.md").write_text(model_card(store, run, model, info))
    record_export(store, {"run_id": run["id"] if run else None, "model_id": model["id"] if model else None,
                          "path": str(outdir), "settings": to_json({"adapter_only": adapter_only, **info}),
                          "created_at": now()})
    return {"source": source, "path": str(outdir), **info}


def _export_run(store: Store, run: dict, out: Path, adapter_only: bool, device: Optional[str]) -> dict:
    from core.superhf.run import run_policy

    policy, config, checkpoint = run_policy(
        store, run, device=device or "cpu",
        required=f"Run '{run['name']}' has no finished iteration to export yet. "
                 f"Continue it with 'superhf resume {run['name']}'.")
    base = model_row(store, run["model_id"])
    if adapter_only:
        if not config.lora:
            raise InputError(f"Run '{run['name']}' tuned all the weights; there is no adapter to export alone.")
        policy.model.save_pretrained(out)
    else:
        merged = policy.model.merge_and_unload() if config.lora else policy.model
        merged.save_pretrained(out, safe_serialization=True)
        merged.generation_config.save_pretrained(out)
    policy.lm.tokenizer.save_pretrained(out)
    return {"iteration": checkpoint["iteration"], "base_model": base["name"], "lora_merged": config.lora and not adapter_only}


def _export_model(model: dict, out: Path) -> dict:
    source = Path(model["path"])
    if not source.is_dir():
        raise NotFoundError(f"The files of model '{model['name']}' are gone from {source}.")
    copy_model_files(source, out)
    return {"base_model": model["name"]}


def model_card(store: Store, run: Optional[dict], model: Optional[dict], info: dict) -> str:
    lines = ["# Model exported by SuperHF Studio", "", f"Exported {now()}.", ""]
    if run is None:
        lines += [f"A copy of the workspace model **{model['name']}** ({model['kind']}, from `{model['source']}`)."]
        return "\n".join(lines) + "\n"
    from core.store.runs import iterations

    reward = reward_model_row(store, run["reward_model_id"]) if run["reward_model_id"] else None
    ratings = len(json.loads(reward["data"]).get("ratings", [])) if reward else 0
    lines += [f"Tuned with SuperHF (Mukobi et al., 2023) in run **{run['name']}**, from the base model "
              f"**{info['base_model']}**, {info['iteration']} iterations.", ""]
    if reward:
        acc = f"{reward['accuracy']:.1%}" if reward["accuracy"] is not None else "not measured (too few ratings)"
        lines += [f"Reward model: **{reward['name']}** v{reward['version']}, trained on {ratings} ratings; "
                  f"held-out pairwise accuracy {acc}.", ""]
    lines += ["## Settings", "", "```json", json.dumps(json.loads(run["config"]), indent=2), "```", "",
              "## Metrics per iteration", "",
              "| iteration | reward (mean) | kept reward | eval reward | KL | CE | distinct-2 | self-BLEU |",
              "|---|---|---|---|---|---|---|---|"]
    for it in iterations(store, run["id"]):
        cells = [it.get(k) for k in ("reward_mean", "kept_reward_mean", "eval_reward", "kl", "ce", "distinct_2",
                                     "self_bleu")]
        lines.append(f"| {it['iteration']} | " + " | ".join("" if c is None else f"{c:.4g}" for c in cells) + " |")
    lines += ["", "Load it with `AutoModelForCausalLM.from_pretrained(folder)`; no custom code is needed."]
    return "\n".join(lines) + "\n"
