"""The timing behind ``core.models.precision``: float32 against bfloat16 on this machine, with
a shortened copy of the model's architecture, in a second or two.

The copy keeps the model's widths, heads and attention, has ``LAYERS`` layers and a vocabulary
cut in the same proportion (so the output projection keeps its share of the work), and random
weights. Sampling runs what the sampler does (a prompt, then decode steps of batch x 1 token
over a key/value cache); training a forward and backward pass
on a short batch with the weights frozen, as LoRA leaves them. The two dtypes take turns and
each keeps its fastest round, so a burst of other work on the machine slows a round, not the
answer.
"""

from __future__ import annotations

import copy
import time

LAYERS = 2
ROUNDS = 3
BUDGET_SECONDS = 3.0  # stop after this many seconds once every dtype has two rounds
SAMPLING = {"cpu": dict(prompts=8, answers=4, prompt_tokens=24, new_tokens=8),
            "cuda": dict(prompts=16, answers=8, prompt_tokens=64, new_tokens=16)}
TRAINING = {"cpu": dict(rows=4, tokens=64), "cuda": dict(rows=8, tokens=256)}


def probe(purpose: str, device: str, config) -> dict:
    """Fastest seconds of one round in each dtype: {"float32": s, "bfloat16": s}."""
    import torch

    kind = "cuda" if device.startswith("cuda") else "cpu"
    base = _short_model(config, device)
    models = {"float32": base, "bfloat16": copy.deepcopy(base).to(torch.bfloat16)}
    run = _sampling_round if purpose == "sampling" else _training_round
    settings = (SAMPLING if purpose == "sampling" else TRAINING)[kind]
    best = {name: float("inf") for name in models}
    started = time.perf_counter()
    for name, model in models.items():  # warm-up: first calls pick kernels and allocate
        run(model, device, **settings)
    for round_ in range(ROUNDS):
        for name, model in models.items():
            _sync(device)
            t = time.perf_counter()
            run(model, device, **settings)
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - t)
        if round_ >= 1 and time.perf_counter() - started > BUDGET_SECONDS:
            break
    return best


def _short_model(config, device: str):
    import torch
    from transformers import AutoModelForCausalLM

    short = copy.deepcopy(config)
    layers = getattr(config, "num_hidden_layers", LAYERS) or LAYERS
    short.num_hidden_layers = min(LAYERS, layers)
    if isinstance(getattr(short, "layer_types", None), (list, tuple)):
        short.layer_types = list(short.layer_types[: short.num_hidden_layers])
    short.vocab_size = max(256, config.vocab_size * short.num_hidden_layers // layers)
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        ids = getattr(short, name, None)
        if isinstance(ids, int) and ids >= short.vocab_size or isinstance(ids, list):
            setattr(short, name, None)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(short, dtype=torch.float32)
    return model.eval()


def _sampling_round(model, device: str, *, prompts: int, answers: int, prompt_tokens: int, new_tokens: int) -> None:
    """What the sampler (``core.sampling.decoder``) spends its time on, without it (this layer
    is below sampling): a prompt pass, its key/value cache shared by ``answers`` rows, then
    decode steps of batch x 1 token whose logits are read in float32."""
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (prompts, prompt_tokens), generator=g).to(device)
    with torch.inference_mode():
        # the last logits picked by index, as the sampler does (1 gives bfloat16 a strided copy)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=torch.tensor([prompt_tokens - 1], device=device))
        cache = getattr(out, "cache", None) or out.past_key_values
        rows = torch.arange(prompts, device=device).repeat_interleave(answers)
        cache.batch_select_indices(rows)
        token = out.logits[rows, -1].float().argmax(-1)
        for _ in range(new_tokens):
            out = model(input_ids=token[:, None], cache=cache, use_cache=True)
            cache = getattr(out, "cache", None) or out.past_key_values
            token = out.logits[:, -1].float().softmax(-1).argmax(-1)


def _training_round(model, device: str, *, rows: int, tokens: int) -> None:
    import torch

    model.requires_grad_(False)
    embeds = model.get_input_embeddings()(torch.randint(0, model.config.vocab_size, (rows, tokens), device=device))
    embeds = embeds.detach().requires_grad_(True)
    logits = model(inputs_embeds=embeds, attention_mask=torch.ones((rows, tokens), dtype=torch.long, device=device)).logits
    logits.float().log_softmax(-1)[..., 0].mean().backward()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
