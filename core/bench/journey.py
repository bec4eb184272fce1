"""``superhf bench journey``: the whole journey as a new user walks it, played by a simulated
rater (core.bench.rater), measuring the project's main question: does the user's tuned model
get closer to their taste?

For each rater and seed, in a fresh scratch workspace (a temporary folder):

1. The model is imported (the starter by default: its GGUF is dequantised once per benchmark,
   and each workspace imports that folder, where it is).
2. Prompts: the starter prompts, shuffled by the seed, split into held-out prompts (``eval``,
   never rated nor trained on) and training prompts (``train``), imported as one set the way
   a user's file with a split column is. The starter set has 40 prompts: at most half are
   held out, whatever ``eval_prompts`` asks, and the report says so.
3. Ratings, the way the app gets them: ``next_pairs`` (what ``superhf rate next`` and the Rate
   page call) generates the candidates and picks the pairs, eight at a time as the Rate page
   asks for them, with ``next_pairs``'s own defaults (candidates per prompt, answer length,
   temperature), read from its signature; the rater answers each with ``answer_pair`` (``rate
   answer``). The first ``retrain_every`` pairs come without a reward model (the app then
   picks the most different answers); after that the user trains a reward model every
   ``retrain_every`` ratings, so the app's active selection (most to learn first) picks the
   rest. When every pair of the stored answers is rated, the user generates more answers, as
   the app tells them to.
4. ``train_reward_model`` with its defaults, on all the ratings.
5. A SuperHF run with the default settings (``start_run`` + ``run_superhf``); with ``minutes``,
   for that long (loading included; a timer stops it as Ctrl-C would, the last finished
   iteration is the result; the run's iterations are then unlimited).
6. ``export`` of the run, then plain ``transformers`` on the exported folder: held-out
   answers (``answers_per_prompt`` per prompt) with its chat template and the run's sampling
   settings (temperature, top-p, longest answer; no top-k cut, as the app samples), stopping
   at the model's end-of-turn token from its generation config.
7. Judged by the rater's own utility, which no model ever saw: the tuned model against the
   base model sampled the same plain way, and against best-of-k at inference on the base
   (k = 4 and 16: each answer the reward model's pick of k fresh samples of the app's
   sampler). Also distinct-2 (core.metrics) of each prompt's answers, and how often the reward
   model agrees with the rater on fresh pairs of base answers to the held-out prompts.

Cost kept modest: per seed, the base's plain answers and the best-of pool (16 app samples per
held-out prompt, split into disjoint groups: 4 best-of-4 and 1 best-of-16 answers per prompt)
are drawn once and shared by the raters; each rater's reward model only scores them. The
curve of judged quality against minutes of training copies each iteration's checkpoint (a
LoRA adapter, kilobytes) while the run goes on, and after the run judges each on a probe of
``probe_prompts`` held-out prompts x 2 answers of the app's sampler, the same seed for every
point, at the training minutes its iteration ended; the probes' time is not charged.

Gains are paired per held-out prompt (tuned minus base, each prompt its own control); over
seeds, the mean of the seeds' gains with its standard error over seeds (with one seed, the
standard error over prompts, and the report says which)."""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from core.bench import journey_extend
from core.bench.common import _starter_prompts
from core.bench.journey_report import PROBE_ANSWERS, _num, _pct, _summary, write_report
from core.bench.rater import RATERS, Rater, make_rater
from core.errors import Cancelled, InputError
from core.metrics import distinct_n
from core.metrics import mean as _mean
from core.metrics import std as _std
from core.progress import Progress
from core.store.database import Store, open_store
from core.superhf.config import SuperHFConfig

if TYPE_CHECKING:
    from core.sampling.generation import SamplingSettings

RATE_BATCH = 8  # pairs the Rate page asks for at a time (desktop/pages/rate.py)
AGREEMENT_PAIRS_PER_PROMPT = 8
PLAIN_BATCH = 32


# ---------------------------------------------------------------- the pieces of one journey

def _rate_defaults() -> tuple[int, SamplingSettings]:
    """The candidates per prompt and sampling settings ``next_pairs`` (behind ``superhf rate
    next`` and the Rate page) uses by default, so the bench rates as the app does when they
    change."""
    import inspect

    from core.journey.rating import next_pairs

    parameters = inspect.signature(next_pairs).parameters
    return parameters["candidates"].default, parameters["settings"].default


def _rate(ws: Store, model_name: str, rater: Rater, count: int, rng: random.Random, seed: int,
          retrain_every: int, device, on_progress, say) -> dict:
    """``count`` ratings as the app gets them, answered by ``rater``."""
    from core.journey.answers import generate_answers
    from core.journey.answering import agreement, answer_pair
    from core.journey.rating import next_pairs
    from core.reward.versions import train_reward_model
    from core.store.prompts import distinct_prompts

    candidates, default_settings = _rate_defaults()
    settings = replace(default_settings, seed=seed)
    prompts = distinct_prompts(ws, "train")
    rated, retrains, refills, next_retrain = 0, 0, 0, retrain_every
    while rated < count:
        pairs = next_pairs(ws, prompts, min(RATE_BATCH, count - rated), model=model_name,
                           candidates=candidates, settings=settings, device=device,
                           on_progress=on_progress)
        if not pairs:  # every pair of the stored answers is rated: the user generates more
            if refills >= 5:
                say(f"Only {rated} pairs to rate could be made; going on with those.")
                break
            refills += 1
            generate_answers(ws, model_name, prompts, candidates, replace(default_settings, seed=seed + 1000 * refills),
                             device=device, on_progress=on_progress)
            continue
        for p in pairs:
            answer_pair(ws, p["id"], "a" if rater.prefers_a(p["a"], p["b"], rng) else "b")
            rated += 1
        if retrain_every and rated >= next_retrain and rated < count:
            train_reward_model(ws, name="taste", device=device, on_progress=on_progress)
            retrains += 1
            next_retrain += retrain_every
    return {"ratings": rated, "reward_retrains_while_rating": retrains, "answer_refills": refills,
            "rating_agreement": agreement(ws)["agreement"], "rate_candidates": candidates,
            "rate_max_new_tokens": settings.max_new_tokens, "rate_temperature": settings.temperature}


def _precision(model_path, device: str) -> dict:
    """{"sampling": why, "training": why}: the dtype each chose for this model here, as the app
    chooses it (measured once per machine and cached). A contended machine can measure another
    choice, and the dtype changes every sample drawn: runs are comparable only where these agree."""
    from core.models.precision import choose_precision

    return {p: choose_precision(p, str(device), folder=Path(model_path)).reason for p in ("sampling", "training")}


def _config(settings: Optional[dict], minutes: Optional[float], seed: int) -> tuple[SuperHFConfig, bool]:
    """The run's settings: the defaults (with the seed), ``settings`` on top; with ``minutes``,
    the run's own time budget where SuperHFConfig has one, else unlimited iterations stopped by
    a timer. Returns the settings and whether the timer is needed."""
    values = {"seed": seed, **(settings or {})}
    has_minutes = "minutes" in {f.name for f in fields(SuperHFConfig)}
    if minutes is not None:
        if has_minutes:
            values["minutes"] = minutes
        values.setdefault("iterations", 10_000)
    return SuperHFConfig(**values), minutes is not None and not has_minutes


def _train(ws: Store, model_name: str, config: SuperHFConfig, minutes: Optional[float], use_timer: bool,
           snapshots: Path, device, on_progress) -> dict:
    """The run, as ``superhf train`` starts it; each finished iteration's checkpoint is copied
    to ``snapshots`` with the training minutes it ended at."""
    from core.bench.methods import timer
    from core.journey.training import start_run
    from core.store.runs import iterations, last_checkpoint
    from core.superhf.run import run_superhf

    run = start_run(ws, model=model_name, reward="taste", prompts="journey", config=config.to_dict(), name="journey")
    started, points, stopped = time.perf_counter(), [], False
    copying = [0.0]

    def progress(event: Progress) -> None:
        if event.stage == "iteration" and event.done >= 1 and event.detail.get("metrics") is not None:
            t = time.perf_counter()
            checkpoint = last_checkpoint(ws, run["id"])
            target = snapshots / f"iter-{event.done:04d}"
            shutil.copytree(checkpoint["path"], target, ignore=shutil.ignore_patterns("trainer.pt"))
            points.append({"iteration": event.done, "minutes": (t - started - copying[0]) / 60, "path": str(target)})
            copying[0] += time.perf_counter() - t
        if on_progress is not None:
            on_progress(event)

    try:
        run_superhf(ws, "journey", device=device, on_progress=progress,
                    cancel=timer(minutes * 60) if use_timer else None)
    except Cancelled:
        stopped = True  # the budget is spent: the last finished iteration is the result
    seconds = time.perf_counter() - started - copying[0]
    its = [i for i in iterations(ws, run["id"]) if i["iteration"] > 0]
    if not its:
        raise InputError(f"The run finished no iteration in {minutes} minutes: give it more time.")
    return {"minutes": seconds / 60, "iterations": len(its), "stopped_by_budget": stopped, "snapshots": points,
            "kl": its[-1].get("kl"), "train_reward": [i.get("reward_mean") for i in its]}


def plain_answers(folder: Path, prompts: Sequence[str], n: int, config: SuperHFConfig, seed: int,
                  device: str) -> list[list[dict]]:
    """``n`` answers per prompt the way a user of plain ``transformers`` gets them from a
    folder: its chat template, ``generate`` with the run's temperature, top-p and longest
    answer (no top-k cut, as the app samples), stopping at its generation config's end-of-turn
    token(s). Returns, per prompt, {"text", "finished"} dicts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.sampling.generation import FALLBACK_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True).to(device).eval()
    eos = model.generation_config.eos_token_id
    stops = sorted({*(eos if isinstance(eos, (list, tuple)) else [eos]), tokenizer.eos_token_id} - {None})
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    templated = bool(getattr(tokenizer, "chat_template", None))
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             if templated else FALLBACK_TEMPLATE.format(prompt=p) for p in prompts for _ in range(n)]
    torch.manual_seed(seed)
    out: list[dict] = []
    with torch.inference_mode():
        for first in range(0, len(texts), PLAIN_BATCH):
            enc = tokenizer(texts[first:first + PLAIN_BATCH], return_tensors="pt", padding=True,
                            add_special_tokens=not templated).to(device)
            generated = model.generate(**enc, do_sample=config.temperature > 0, temperature=config.temperature or None,
                                       top_p=config.top_p, top_k=0, max_new_tokens=config.max_new_tokens,
                                       eos_token_id=stops, pad_token_id=pad)
            for row in generated[:, enc["input_ids"].shape[1]:].tolist():
                stop = next((j for j, t in enumerate(row) if t in stops), None)
                out.append({"text": tokenizer.decode(row[:stop], skip_special_tokens=True).strip(),
                            "finished": stop is not None})
    del model
    return [out[i * n:(i + 1) * n] for i in range(len(prompts))]


def _app_answers(lm, prompts: Sequence[str], n: int, config: SuperHFConfig, seed: int) -> list[list[str]]:
    """``n`` answers per prompt from the app's own sampler, with the run's settings."""
    from core.sampling.generation import SamplingSettings, sample

    settings = SamplingSettings(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                top_p=config.top_p, seed=seed)
    grouped: list[list[str]] = [[] for _ in prompts]
    for a in sample(lm, list(prompts), n, settings):
        grouped[a.prompt_index].append(a.text)
    return grouped


def _paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of a - b over prompts and its standard error."""
    diffs = [x - y for x, y in zip(a, b)]
    return _mean(diffs), (_std(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0)


def _judge(rater: Rater, answers: list[list[str]]) -> tuple[list[float], float]:
    """Per-prompt mean utilities and the mean distinct-2 of each prompt's answers."""
    per_prompt = [_mean(rater.utility(t) for t in group) for group in answers]
    return per_prompt, _mean(distinct_n(group) for group in answers if len(group) > 1)


def _best_of(pool: list[list[str]], rewards: list[list[float]], k: int) -> list[list[str]]:
    """Each prompt's pool split into disjoint groups of ``k``; each group's reward-model pick."""
    return [[max(zip(texts[i:i + k], scores[i:i + k]), key=lambda x: x[1])[0]
             for i in range(0, len(texts) - k + 1, k)] for texts, scores in zip(pool, rewards)]


def _agreement(rater: Rater, prompts: Sequence[str], pool: list[list[str]], rewards: list[list[float]],
               rng: random.Random) -> dict:
    """How often the reward model picks what the rater picks on fresh pairs of base answers to
    held-out prompts: against the rater's (noisy) choice, and against its utility where the
    two answers differ in it."""
    hits, clear = [], []
    for texts, scores in zip(pool, rewards):
        for i in range(0, min(len(texts) - 1, 2 * AGREEMENT_PAIRS_PER_PROMPT), 2):
            a, b, ra, rb = texts[i], texts[i + 1], scores[i], scores[i + 1]
            if a == b or ra == rb:
                continue
            hits.append(rater.prefers_a(a, b, rng) == (ra > rb))
            ua, ub = rater.utility(a), rater.utility(b)
            if ua != ub:
                clear.append((ua > ub) == (ra > rb))
    return {"agreement": _mean(hits) if hits else None, "agreement_pairs": len(hits),
            "agreement_clear": _mean(clear) if clear else None, "agreement_clear_pairs": len(clear)}


def _curve(base_path: Path, config: SuperHFConfig, snapshots: list[dict], rater: Rater, probe: list[str],
           base_probe: list[list[str]], seed: int, device) -> list[list[float]]:
    """[minutes, mean utility on the probe] for the base (0 minutes) and each iteration."""
    from core.superhf.policy import build_policy

    points = [[0.0, _mean(_judge(rater, base_probe)[0])]]
    for snap in snapshots:
        policy = build_policy(base_path, config, device=device, checkpoint=Path(snap["path"]))
        policy.model.eval()
        answers = _app_answers(policy.lm, probe, PROBE_ANSWERS, config, seed)
        points.append([round(snap["minutes"], 3), _mean(_judge(rater, answers)[0])])
        del policy
    return points


# ---------------------------------------------------------------- the benchmark

def bench_journey(store: Optional[Store] = None, *, model: Optional[str] = None, ratings: int = 100,
                  seeds: int = 3, raters: Optional[Sequence[str]] = None, minutes: Optional[float] = None,
                  eval_prompts: int = 32, answers_per_prompt: int = 4, best_of: Sequence[int] = (4, 16),
                  probe_prompts: int = 8, retrain_every: int = 25, settings: Optional[dict] = None,
                  device: Optional[str] = None, out: Optional[Path] = None, on_progress=None,
                  first_seed: int = 0, extend: Optional[Path] = None,
                  say: Callable[[str], None] = print) -> dict:
    """The journey for each rater (``raters``: names in core.bench.rater.RATERS; None: all)
    and seed; see the module's docstring. ``model``: None for the starter, a model folder or
    .gguf file, or the name of a model in ``store``. ``minutes``: None trains for the default
    iterations, else for that long. ``settings``: SuperHF settings over the defaults (None:
    the defaults, the point of this benchmark; tests make them tiny). Seeds ``first_seed`` on.
    ``extend``: an earlier report's journey.json, whose journeys join these in one report
    (core.bench.journey_extend). With ``out``, writes journey.md, journey.json and journey.png
    there."""
    from core.models.devices import choose_device
    from core.models.importing import STARTER_NAME, import_model
    from core.models.loading import load_model_folder
    from core.records import write_records
    from core.reward.versions import RewardScorer, train_reward_model
    from core.store.prompts import import_prompts
    from core.journey.export import export

    names = list(raters) if raters else list(RATERS)
    chosen = [make_rater(n) for n in names]
    if ratings < 2 or seeds < 1 or answers_per_prompt < 1 or not best_of or min(best_of) < 1 or first_seed < 0:
        raise InputError("Give at least 2 ratings, 1 seed, 1 answer per prompt, best-of sizes of 1 or more and a "
                         "first seed of 0 or more.")
    device = choose_device(device)
    seed_list = range(first_seed, first_seed + seeds)
    earlier = None
    if extend is not None:
        earlier = journey_extend.load_earlier(extend)
        journey_extend.check_before(earlier, {
            "device": device, "ratings": ratings, "raters": names, "minutes_budget": minutes,
            "asked_held_out_prompts": eval_prompts, "answers_per_prompt": answers_per_prompt,
            "best_of": list(best_of), "retrain_every": retrain_every,
            "settings": _config(settings, minutes, 0)[0].to_dict()}, seed_list)
    started = time.perf_counter()
    prompts = list(dict.fromkeys(_starter_prompts(40)))
    held_count = min(eval_prompts, len(prompts) // 2)
    if held_count < eval_prompts:
        say(f"The starter set has {len(prompts)} prompts: {held_count} held out (not {eval_prompts}), "
            f"{len(prompts) - held_count} to rate and train on.")
    pool_n = max(best_of)
    journeys: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-journey-") as tmp:
        tmp = Path(tmp)
        model_path, model_name, import_seconds = _model(store, model, tmp, import_model, STARTER_NAME, on_progress, say)
        precision = _precision(model_path, device)
        if earlier is not None:
            journey_extend.check_model(earlier, model_name, precision)
        say(f"Model {model_name}; {len(chosen)} rater(s) x {seeds} seed(s); {ratings} ratings each; "
            f"{held_count} held-out prompts x {answers_per_prompt} answers. Precision: "
            + "; ".join(f"{k}: {v}" for k, v in precision.items()) + ".")
        for seed in seed_list:
            order = prompts[:]
            random.Random(seed).shuffle(order)
            held, train = order[:held_count], order[held_count:]
            probe = held[:min(probe_prompts, len(held))]
            config, _ = _config(settings, minutes, seed)
            say(f"seed {seed + 1} of {seed_list[-1] + 1}: the base model's held-out answers (plain transformers), "
                f"and {pool_n} samples per prompt for best-of-k...")
            t = time.perf_counter()
            base_plain = plain_answers(model_path, held, answers_per_prompt, config, 100 + seed, device)
            base_lm = load_model_folder(model_path, device=device)
            pool = _app_answers(base_lm, held, pool_n, config, 200 + seed)
            base_probe = _app_answers(base_lm, probe, PROBE_ANSWERS, config, 300 + seed)
            del base_lm
            base_seconds = time.perf_counter() - t
            say(f"seed {seed + 1}: base answers and best-of pool in {base_seconds / 60:.1f} min.")
            for rater in chosen:
                say(f"seed {seed + 1}, rater {rater.name}: rating, reward model, training, export...")
                rng = random.Random(f"{rater.name}-{seed}")
                record: dict = {"rater": rater.name, "seed": seed, "base_sampling_seconds": round(base_seconds, 1)}
                with tempfile.TemporaryDirectory(prefix="journey-", dir=tmp) as home, open_store(home) as ws:
                    t = time.perf_counter()
                    import_model(ws, model_path, name=model_name)
                    prompt_file = Path(home) / "prompts.jsonl"
                    write_records(prompt_file, [{"prompt": p, "split": "train"} for p in train]
                                  + [{"prompt": p, "split": "eval"} for p in held], ["prompt", "split"])
                    import_prompts(ws, prompt_file, set_name="journey")
                    record.update(_rate(ws, model_name, rater, ratings, rng, seed, retrain_every, device,
                                        on_progress, say))
                    record["rating_minutes"] = (time.perf_counter() - t) / 60
                    say(f"  {record['ratings']} ratings in {record['rating_minutes']:.1f} min "
                        f"({record['reward_retrains_while_rating']} reward models trained on the way); "
                        f"training the reward model...")
                    t = time.perf_counter()
                    reward = train_reward_model(ws, name="taste", device=device, on_progress=on_progress)
                    record.update(reward_seconds=time.perf_counter() - t, reward_accuracy=reward.get("accuracy"),
                                  reward_heldout_pairs=reward.get("heldout_pairs"))
                    say(f"  reward model in {record['reward_seconds']:.0f} s; training the policy...")
                    config, use_timer = _config(settings, minutes, seed)
                    snapshots = Path(home) / "snapshots"
                    snapshots.mkdir()
                    training = _train(ws, model_name, config, minutes, use_timer, snapshots, device, on_progress)
                    t = time.perf_counter()
                    exported = export(ws, "journey", Path(home) / "exported", device=device)
                    record["export_seconds"] = time.perf_counter() - t
                    say(f"  {training['iterations']} iteration(s) in {training['minutes']:.1f} min, exported in "
                        f"{record['export_seconds']:.0f} s; judging...")
                    t = time.perf_counter()
                    tuned_plain = plain_answers(Path(exported["path"]), held, answers_per_prompt, config,
                                                100 + seed, device)
                    scorer = RewardScorer.load(ws, "taste", device=device)
                    rewards_flat = scorer.score([p for p, g in zip(held, pool) for _ in g], [a for g in pool for a in g])
                    del scorer
                    rewards, i = [], 0
                    for g in pool:
                        rewards.append(rewards_flat[i:i + len(g)])
                        i += len(g)
                    record["curve"] = _curve(model_path, config, training.pop("snapshots"), rater, probe, base_probe,
                                             300 + seed, device)
                    record["judging_seconds"] = time.perf_counter() - t
                record.update(training)
                record.update(_agreement(rater, held, pool, rewards, random.Random(f"agree-{rater.name}-{seed}")))
                record.update(_figures(rater, base_plain, tuned_plain, pool, rewards, best_of))
                record["examples"] = [{"prompt": p, "base": [x["text"] for x in b], "tuned": [x["text"] for x in u]}
                                      for p, b, u in list(zip(held, base_plain, tuned_plain))[:2]]
                journeys.append(record)
                say(f"seed {seed + 1}, rater {rater.name}: gain {record['gain']:+.3f} ±{record['gain_se']:.3f} "
                    f"(tuned {record['tuned']:.3f}, base {record['base']:.3f}, "
                    + ", ".join(f"best-of-{k} {record[f'best_of_{k}']:.3f}" for k in best_of)
                    + f"), distinct-2 ratio {_num(record['distinct_2_ratio'])}, reward model agrees "
                    f"{_pct(record['agreement'])} of {record['agreement_pairs']} pairs; "
                    f"{record['minutes']:.1f} min of training, {record['iterations']} iterations.")
    facts = {"model": model_name, "device": device, "ratings": ratings, "seeds": seeds,
             "seed_list": list(seed_list), "raters": names,
             "minutes_budget": minutes, "settings": _config(settings, minutes, 0)[0].to_dict(),
             "changed_settings": settings, "held_out_prompts": held_count,
             "asked_held_out_prompts": eval_prompts, "training_prompts": len(prompts) - held_count,
             "answers_per_prompt": answers_per_prompt, "best_of": list(best_of), "probe_prompts": len(probe),
             "retrain_every": retrain_every, "import_seconds": round(import_seconds, 1), "precision": precision,
             "total_minutes": round((time.perf_counter() - started) / 60, 2)}
    if earlier is not None:
        facts, journeys = journey_extend.merged(earlier, facts, journeys)
    summary = {r.name: _summary([j for j in journeys if j["rater"] == r.name], best_of) for r in chosen}
    tastes = {r.name: r.taste for r in chosen}
    text = write_report(out, facts, summary, journeys, tastes)
    say(text)
    if out is not None:
        say(f"Report written to {Path(out) / 'journey.md'}, with journey.json and journey.png beside it.")
    return {**facts, "summary": summary, "journeys": journeys}


def _model(store, model, tmp: Path, import_model, starter_name, on_progress, say) -> tuple[Path, str, float]:
    """The model's folder and name: the starter dequantised once into a scratch workspace, a
    folder or GGUF file given by path, or a model of ``store`` by name."""
    t = time.perf_counter()
    if model is None:
        say("Importing the starter model (dequantising its GGUF once for the whole benchmark)...")
        with open_store(tmp / "models") as scratch:
            row = import_model(scratch, starter=True, on_progress=on_progress)
        return Path(row["path"]), starter_name, time.perf_counter() - t
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir():
            return path.resolve(), path.name, 0.0
        with open_store(tmp / "models") as scratch:
            row = import_model(scratch, path, on_progress=on_progress)
        return Path(row["path"]), row["name"], time.perf_counter() - t
    if store is None:
        raise InputError(f"No model folder or file at {model}.")
    from core.store.models import get_model

    row = get_model(store, model)
    return Path(row["path"]), row["name"], 0.0


def _figures(rater: Rater, base_plain, tuned_plain, pool, rewards, best_of) -> dict:
    base_u, base_d2 = _judge(rater, [[a["text"] for a in g] for g in base_plain])
    tuned_u, tuned_d2 = _judge(rater, [[a["text"] for a in g] for g in tuned_plain])
    gain, gain_se = _paired(tuned_u, base_u)
    out = {"base": _mean(base_u), "tuned": _mean(tuned_u), "gain": gain, "gain_se": gain_se,
           "distinct_2_base": base_d2, "distinct_2_tuned": tuned_d2,
           "distinct_2_ratio": tuned_d2 / base_d2 if base_d2 else None,
           "finished_base": _mean(a["finished"] for g in base_plain for a in g),
           "finished_tuned": _mean(a["finished"] for g in tuned_plain for a in g),
           "words_base": _mean(len(a["text"].split()) for g in base_plain for a in g),
           "words_tuned": _mean(len(a["text"].split()) for g in tuned_plain for a in g),
           "best_of_1": _mean(_judge(rater, pool)[0])}
    for k in best_of:
        picked_u, _ = _judge(rater, _best_of(pool, rewards, k))
        out[f"best_of_{k}"] = _mean(picked_u)
        out[f"tuned_minus_best_of_{k}"], out[f"tuned_minus_best_of_{k}_se"] = _paired(tuned_u, picked_u)
    return out
