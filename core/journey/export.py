"""Export a tuned model (or any workspace model) as a Hugging Face folder that plain
``transformers`` loads: ``model.safetensors`` with the LoRA merged in, in the base model's
dtype, config, tokenizer, generation config and a model card that says where it came from.
Or (``fmt="gguf"``) as one GGUF file for llama.cpp, Ollama and LM Studio, with an Ollama
``Modelfile`` and the same model card."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Optional

from core.errors import InputError, NotFoundError
from core.models import gguf_export, ollama
from core.models.licence import licence_of
from core.models.loading import copy_model_files
from core.reward.verdict import verdict
from core.store.atomic import atomic_folder, check_room
from core.store.database import Store, now, to_json
from core.store.exports import record_export
from core.store.models import find_model, model_row
from core.store.reward_models import reward_model_row
from core.store.runs import find_run


FORMATS = ("safetensors", "gguf")


def export(store: Store, source: str, outdir: Path, *, force: bool = False, adapter_only: bool = False,
           device: Optional[str] = None, fmt: str = "safetensors", quant: str = "f16") -> dict:
    """``source`` names a run (its last checkpoint) or a model. The folder is written next to
    ``outdir`` and renamed into place: an interrupted export leaves no half folder. Before
    anything is written, a GGUF export checks the architecture, and every export that the disk
    has room for it."""
    if fmt not in FORMATS:
        raise InputError(f"Unknown export format '{fmt}'. Use safetensors or gguf.")
    if fmt == "gguf" and adapter_only:
        raise InputError("A GGUF file holds the whole model; --adapter-only exports only as safetensors.")
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
    base = Path(model_row(store, run["model_id"])["path"] if run is not None else model["path"])
    _check_before_writing(base, outdir, fmt, quant, adapter_only)
    with atomic_folder(outdir) as tmp:  # an existing (empty, or --force) folder is replaced
        hf = tmp / ".safetensors" if fmt == "gguf" else tmp  # the GGUF is converted from this, then it goes
        hf.mkdir(exist_ok=True)
        if run is not None:
            info = _export_run(store, run, hf, adapter_only, device)
        else:
            info = _export_model(model, hf)
        if fmt == "gguf":
            info.update(_to_gguf(hf, tmp, source, quant))
            shutil.rmtree(hf)
        (tmp / "README.md").write_text(model_card(store, run, model, info))
    record_export(store, {"run_id": run["id"] if run else None, "model_id": model["id"] if model else None,
                          "path": str(outdir), "settings": to_json({"adapter_only": adapter_only, "format": fmt,
                                                                    **info}),
                          "created_at": now()})
    return {"source": source, "path": str(outdir), **info}


def _check_before_writing(base: Path, outdir: Path, fmt: str, quant: str, adapter_only: bool) -> None:
    """Refuse an architecture GGUF cannot hold, or a disk without room, before the long work."""
    if not base.is_dir():
        return  # said plainly by the export itself
    weights = sum(p.stat().st_size for p in base.glob("*.safetensors"))
    needed = weights // 20 if adapter_only else weights  # the merged model, in the base's dtype
    if fmt == "gguf":
        config = gguf_export.read_config(base)
        gguf_export.check_architecture(config)
        if quant not in gguf_export.QUANTS:
            raise InputError(f"Unknown GGUF quantisation '{quant}'. Use {' or '.join(gguf_export.QUANTS)}.")
        needed += gguf_export.gguf_bytes(base, quant)  # the safetensors scratch and the file, side by side
    check_room(outdir.parent, needed + 16 * 2**20, "this export")


def _to_gguf(hf: Path, out: Path, source: str, quant: str) -> dict:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", source).strip("-.") or "model"
    info = gguf_export.write_gguf(hf, out / f"{name}-{quant}.gguf", quant, source)
    (out / "Modelfile").write_text(ollama.modelfile(info["gguf"], info.pop("chat_template"), info.pop("eos_token")))
    return info


def _export_run(store: Store, run: dict, out: Path, adapter_only: bool, device: Optional[str]) -> dict:
    from transformers import AutoTokenizer

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
        dtype = _stored_dtype(Path(base["path"]))
        merged = merged.to(dtype)
        merged.save_pretrained(out, safe_serialization=True)
        merged.generation_config.save_pretrained(out)
    # the base model's tokenizer as it was stored, not the one loaded for sampling and training
    # (left padding, pad = EOS): a user's transformers code then pads as the model's authors meant
    AutoTokenizer.from_pretrained(base["path"], local_files_only=True).save_pretrained(out)
    return {"iteration": checkpoint["iteration"], "base_model": base["name"],
            "lora_merged": config.lora and not adapter_only, **({} if adapter_only else {"dtype": str(dtype).removeprefix("torch.")})}


def _stored_dtype(folder: Path):
    """The dtype the base model's weights were stored in (its config says), else float32."""
    import torch

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    name = config.get("dtype") or config.get("torch_dtype")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)


def _export_model(model: dict, out: Path) -> dict:
    source = Path(model["path"])
    if not source.is_dir():
        raise NotFoundError(f"The files of model '{model['name']}' are gone from {source}.")
    copy_model_files(source, out)
    return {"base_model": model["name"]}


def model_card(store: Store, run: Optional[dict], model: Optional[dict], info: dict) -> str:
    lines = ["# Model exported by SuperHF Studio", "", f"Exported {now()}.", ""]
    if run is None:
        lines += [f"A copy of the workspace model **{model['name']}** ({model['kind']}, from `{model['source']}`).", ""]
        return "\n".join(lines + _licence(model) + _how_to_load(info))
    from core.store.runs import iterations

    reward = reward_model_row(store, run["reward_model_id"]) if run["reward_model_id"] else None
    ratings = len(json.loads(reward["data"]).get("ratings", [])) if reward else 0
    lines += [f"Tuned with SuperHF (Mukobi et al., 2023) in run **{run['name']}**, from the base model "
              f"**{info['base_model']}**, {info['iteration']} iterations.", ""]
    base = find_model(store, info["base_model"])
    lines += _licence(base) if base else []
    if reward:
        lines += [f"Reward model: **{reward['name']}** v{reward['version']}, trained on {ratings} ratings. "
                  f"{verdict(reward)['message']}", ""]
    lines += ["## Settings", "", "```json", json.dumps(json.loads(run["config"]), indent=2), "```", "",
              "## Metrics per iteration", "",
              "| iteration | reward (mean) | kept reward | eval reward | KL | CE | distinct-2 | self-BLEU |",
              "|---|---|---|---|---|---|---|---|"]
    for it in iterations(store, run["id"]):
        cells = [it.get(k) for k in ("reward_mean", "kept_reward_mean", "eval_reward", "kl", "ce", "distinct_2",
                                     "self_bleu")]
        lines.append(f"| {it['iteration']} | " + " | ".join("" if c is None else f"{c:.4g}" for c in cells) + " |")
    return "\n".join(lines + [""] + _how_to_load(info))


def _licence(model: dict) -> list[str]:
    """The base model's licence, which a model tuned from it keeps."""
    stated = licence_of(model)
    if stated:
        return [f"Licence: **{stated}**, the licence of the base model **{model['name']}**, which this model "
                "keeps.", ""]
    return [f"Licence: the base model **{model['name']}** states none that the app could read. Check its "
            "licence before sharing this model.", ""]


def _how_to_load(info: dict) -> list[str]:
    if info.get("gguf"):
        return [f"Weights: one GGUF file, `{info['gguf']}` ({info['quant']}).", "", ollama.instructions(info["gguf"])]
    stored = f" Weights stored in {info['dtype']}." if info.get("dtype") else ""
    return [f"Load it with `AutoModelForCausalLM.from_pretrained(folder)`; no custom code is needed.{stored}", ""]
