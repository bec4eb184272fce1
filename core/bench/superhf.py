"""``superhf bench superhf``: does a SuperHF run on the starter model raise the held-out
reward without collapsing diversity, at what cost per iteration and in memory?

The person is ``SimulatedRater`` (core.bench.rater). It rates pairs of the starter's own
answers; a fast reward model learns from those ratings; SuperHF tunes the starter against
that reward model. Held-out prompts are never rated nor trained on; their answers before
and after are judged both by the reward model and by the rater's own utility, which the
tuning never saw: a rise in the first without the second would be reward hacking."""

from __future__ import annotations

import random
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Callable, Optional

from core.bench.common import _model_name, _starter_prompts, in_child
from core.bench.rater import SimulatedRater
from core.bench.reward import _answers
from core.sampling.generation import SamplingSettings, sample
from core.metrics import distinct_n, self_bleu
from core.models.importing import import_model
from core.store.prompts import find_set_id, import_prompts
from core.store.ratings import add_ratings, pair
from core.records import write_records
from core.reward.versions import RewardScorer, train_reward_model
from core.store.runs import create_run, get_run, iterations, last_checkpoint
from core.store.database import Store, open_store
from core.superhf.config import SuperHFConfig


def _judge(policy_lm, scorer: RewardScorer, rater: SimulatedRater, prompts: list[str], n: int, seed: int) -> dict:
    answers = sample(policy_lm, prompts, n, SamplingSettings(max_new_tokens=64, seed=seed))
    texts = [a.text for a in answers]
    rewards = scorer.score([a.prompt for a in answers], texts)
    by_prompt: dict[int, list[str]] = {}
    for a in answers:
        by_prompt.setdefault(a.prompt_index, []).append(a.text)
    utilities = [rater.utility(t) for t in texts]
    per_prompt: dict[int, list[tuple[float, float]]] = {}
    for a, r, u in zip(answers, rewards, utilities):
        per_prompt.setdefault(a.prompt_index, []).append((r, u))

    def sem(xs):  # standard error of the mean
        m = sum(xs) / len(xs)
        return (sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) ** 0.5 if len(xs) > 1 else 0.0

    return {"reward": sum(rewards) / len(rewards), "reward_sem": sem(rewards),
            "utility": sum(utilities) / len(utilities), "utility_sem": sem(utilities),
            "distinct_2": sum(distinct_n(t) for t in by_prompt.values()) / len(by_prompt),
            "self_bleu": sum(self_bleu(t) for t in by_prompt.values()) / len(by_prompt),
            "mean_words": sum(len(t.split()) for t in texts) / len(texts),
            "per_prompt": {i: (sum(r for r, _ in v) / len(v), sum(u for _, u in v) / len(v))
                           for i, v in sorted(per_prompt.items())}}


def paired(before: dict, after: dict, which: int) -> tuple[float, float]:
    """Mean change per held-out prompt (tuned minus base; 0 reward, 1 utility) and its standard
    error: each prompt is its own control, so prompt-to-prompt spread does not hide a change."""
    diffs = [after["per_prompt"][i][which] - before["per_prompt"][i][which] for i in before["per_prompt"]]
    mean = sum(diffs) / len(diffs)
    se = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)) ** 0.5 if len(diffs) > 1 else 0.0
    return mean, se


def simulated_ratings(store: Store, name: str, prompts: list[str], count: int, on_progress=None) -> list[dict]:
    """``count`` pairs of the model's own answers to ``prompts``, judged by the simulated rater."""
    answers = _answers(store, name, prompts, 8, 48, on_progress)
    rater, rng = SimulatedRater(), random.Random(0)
    pool = [(p, a, b) for p in prompts for a, b in combinations(answers[p], 2)]
    rng.shuffle(pool)
    return [pair(p, a, b) if rater.prefers_a(a, b, rng) else pair(p, b, a) for p, a, b in pool[:count]]


def seed_workspace(scratch: Store, model_path: str, name: str, ratings: list[dict], train_prompts: list[str]):
    """A scratch workspace ready to train: the model (used where it is), the ratings, a reward
    model trained on them and the training prompts as set "train"."""
    model_row = import_model(scratch, model_path, name=name)
    add_ratings(scratch, ratings, source="bench")
    reward = train_reward_model(scratch, name="rater")
    prompt_file = scratch.workspace.tmp_dir / "prompts.jsonl"
    write_records(prompt_file, [{"prompt": p, "split": "train"} for p in train_prompts], ["prompt", "split"])
    import_prompts(scratch, prompt_file, set_name="train")
    return model_row, reward, find_set_id(scratch, "train")


def bench_superhf(store: Store, *, model: Optional[str] = None, iterations_: int = 3, ratings: int = 200,
                  config: Optional[SuperHFConfig] = None, memory: bool = True, device: Optional[str] = None,
                  on_progress=None, say: Callable[[str], None] = print) -> dict:
    from core.superhf.policy import build_policy
    from core.superhf.run import run_superhf

    name = _model_name(store, model, say)
    prompts = list(dict.fromkeys(_starter_prompts(40)))
    train_prompts, held_out = prompts[1::2], prompts[::2]
    _answers(store, name, prompts, 8, 48, on_progress)  # held-out prompts too: the same cache as before
    rows = simulated_ratings(store, name, train_prompts, ratings, on_progress)
    rater = SimulatedRater()
    config = config or SuperHFConfig(iterations=iterations_, minutes=None, eval_prompts=0)
    result: dict = {"model": name, "ratings": len(rows), "config": config.to_dict()}
    with tempfile.TemporaryDirectory(prefix="bench-superhf-") as home:
        with open_store(home) as scratch:
            model_row, reward, set_id = seed_workspace(scratch, store.model(name)["path"], name, rows, train_prompts)
            say(f"Reward model from {len(rows)} simulated ratings: held-out accuracy {reward['accuracy']:.1%}.")
            run = create_run(scratch, name="bench", model_id=model_row["id"], reward_model_id=reward["id"],
                             prompt_set_id=set_id, config=config.to_dict())
            scorer = RewardScorer.load(scratch, "rater", device=device)
            base = build_policy(Path(model_row["path"]), config, device=device)
            before = _judge(base.lm, scorer, rater, held_out, 4, seed=1)
            del base
            started = time.perf_counter()
            run_superhf(scratch, "bench", device=device, on_progress=on_progress)
            seconds = time.perf_counter() - started
            its = iterations(scratch, run["id"])[1:]
            tuned = build_policy(Path(model_row["path"]), config, device=device,
                                 checkpoint=Path(last_checkpoint(scratch, get_run(scratch, "bench")["id"])["path"]))
            after = _judge(tuned.lm, scorer, rater, held_out, 4, seed=1)
    for label, j in (("base", before), ("tuned", after)):
        say(f"{label:>6} on {len(held_out)} held-out prompts x 4: reward {j['reward']:.3f} ±{j['reward_sem']:.3f}, "
            f"rater utility {j['utility']:.3f} ±{j['utility_sem']:.3f}, distinct-2 {j['distinct_2']:.3f}, self-BLEU {j['self_bleu']:.3f}, "
            f"{j['mean_words']:.1f} words")
    changes = {"reward": paired(before, after, 0), "utility": paired(before, after, 1)}
    say("paired change per held-out prompt (tuned - base): " + ", ".join(
        f"{k} {m:+.3f} ±{se:.3f} ({m / se if se else float('inf'):+.1f} SE)" for k, (m, se) in changes.items()))
    for it in its:
        say(f"iteration {it['iteration']}: reward {it['reward_mean']:.3f} (kept {it['kept_reward_mean']:.3f}), "
            f"KL {it['kl']:.4f}, distinct-2 {it['distinct_2']:.3f}, {it['seconds']:.1f} s, "
            f"sampling {it['sample_tokens_per_second']:.0f} tokens/s")
    for j in (before, after):
        j.pop("per_prompt")
    result.update(before=before, after=after, seconds=round(seconds, 1),
                  paired_change={k: {"mean": round(m, 4), "se": round(se, 4)} for k, (m, se) in changes.items()},
                  seconds_per_iteration=round(sum(i["seconds"] for i in its) / len(its), 1),
                  iterations=[{k: v for k, v in i.items() if k != "example"} for i in its])
    if memory:
        result["peak_memory_mib"] = {mode: _peak_memory(store.model(name)["path"], mode == "lora", device)
                                     for mode in ("lora", "full")}
        say("memory of one update step (8 x 64 tokens), resident: " + "; ".join(
            f"{k} {v['before_step']:.0f} MiB loaded, {v['peak']:.0f} MiB at peak"
            for k, v in result["peak_memory_mib"].items()))
    return result


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def _probe(path: str, lora: bool, device: Optional[str], queue) -> None:
    """One update step in a fresh process: the peak memory while it runs, the model and its
    frozen reference (if any) included, the loading before it excluded."""
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecations, as in the CLI

    from core.superhf.policy import build_policy
    from core.superhf.loss import batch_logits, build_batch, superhf_loss

    policy = build_policy(Path(path), SuperHFConfig(lora=lora), device=device)
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-5)
    tok = policy.lm.tokenizer
    ids = tok(["Explain what a firewall does."] * 8, add_special_tokens=False)["input_ids"]
    batch = build_batch(ids, [list(range(100, 164))] * 8, tok.eos_token_id, tok.pad_token_id).to(policy.lm.device)
    cuda = str(policy.lm.device).startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    else:  # Linux: writing 5 to clear_refs resets the process's peak resident size (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")
    loaded = torch.cuda.memory_allocated() / 2**20 if cuda else _rss_mib("VmRSS")
    policy.model.train()
    logits = batch_logits(policy.model, batch)
    loss, _, _ = superhf_loss(logits, policy.reference_logits(batch), batch, 0.35)
    loss.backward()
    optimizer.step()
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _rss_mib("VmHWM")
    queue.put({"before_step": round(loaded, 1), "peak": round(peak, 1)})


def _peak_memory(path: str, lora: bool, device: Optional[str]) -> dict:
    return in_child(_probe, path, lora, device, what="the memory probe process")
