"""Several processes: metrics combined as one process would count them; two real CPU processes
(gloo) that average their gradients, train on different prompts, agree on the micro-batch and
on the number of steps when one kept fewer answers, and stop together, with its message and
the run marked failed, when one of them fails. The two-process tests run the processes with
``torch.multiprocessing`` under a deadline: a hang fails the test instead of blocking it."""

import json
import socket
import time
from pathlib import Path

import pytest
import torch

from core.metrics import mean, std
from core.superhf.distributed import combine_metrics, has_rule

DEADLINE = 120  # seconds two processes get; a hang ends the test well before pytest's patience
PROMPTS = [f"Tell me about thing {i}." for i in range(16)]


def test_metrics_combine_as_one_process_would_have_counted_them():
    rewards = [[1.0, 2.0, 4.0], [0.0, 3.0, 3.0, 5.0, 9.0]]
    kept = [[4.0, 2.0], [5.0]]
    per_process = [
        {"samples": len(r), "kept": len(k), "reward_mean": mean(r), "reward_std": std(r), "kept_reward_mean": mean(k),
         "kept_reward_std": std(k), "sample_tokens_per_second": 100.0 * (i + 1), "seconds": 3.0 + i,
         "distinct_2": 0.5 + i / 4, "ce": 2.0 + i, "mean_length": 10.0 + 10 * i, "micro_batch": 4 - 2 * i,
         "learning_rate": 0.01, "example": None if i == 0 else {"prompt": "p", "completion": "c"},
         "notes": [f"note {i}", "shared"]}
        for i, (r, k) in enumerate(zip(rewards, kept))]
    merged = combine_metrics(per_process)
    every, every_kept = rewards[0] + rewards[1], kept[0] + kept[1]
    assert merged["samples"] == 8 and merged["kept"] == 3  # counts add up
    assert merged["sample_tokens_per_second"] == 300.0  # both sampled at once
    assert merged["seconds"] == 4.0  # the round lasted as long as the slower one
    assert merged["reward_mean"] == pytest.approx(mean(every))
    assert merged["reward_std"] == pytest.approx(std(every))  # pooled exactly, not a mean of spreads
    assert merged["kept_reward_std"] == pytest.approx(std(every_kept))
    assert merged["mean_length"] == pytest.approx((3 * 10.0 + 5 * 20.0) / 8)  # per answer drawn
    assert merged["distinct_2"] == pytest.approx((2 * 0.5 + 1 * 0.75) / 3)  # per prompt with an answer
    assert merged["ce"] == pytest.approx((2 * 2.0 + 1 * 3.0) / 3)
    assert merged["micro_batch"] == 2 and merged["learning_rate"] == 0.01
    assert merged["example"] == {"prompt": "p", "completion": "c"}
    assert merged["notes"] == ["note 0", "note 1", "shared"]
    assert combine_metrics(per_process[:1]) == per_process[0]  # one process: its own, untouched


# -- two processes: what each does is written to a file, checked here after both have ended

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(worker, args: tuple, stop_all_when_one_exits: bool = False) -> None:
    """Start two processes running ``worker(rank, *args)``; wait at most ``DEADLINE`` seconds.
    ``stop_all_when_one_exits``: as torchrun does, the other is killed as soon as one exits."""
    import torch.multiprocessing as mp

    context = mp.start_processes(worker, args=args, nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + DEADLINE
    while any(p.is_alive() for p in context.processes):
        if stop_all_when_one_exits and any(not p.is_alive() for p in context.processes):
            for p in context.processes:
                p.kill()
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"two processes still running after {DEADLINE} s: they hang")
        time.sleep(0.05)


def _join(rank: int, port: int):
    """This process in a group of two, as a launcher starts it (the variables torchrun sets)."""
    import os

    import torch.distributed as dist

    from core.superhf.distributed import Processes

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)  # two processes on two cores
    dist.init_process_group("gloo")  # the run's Accelerator finds it started and keeps it
    return Processes(rank, 2)


def _everyone(value):
    import torch.distributed as dist

    out = [None, None]
    dist.all_gather_object(out, value)
    return out


def _train_together(rank: int, processes, model_dir: str, out: str) -> None:
    import core.superhf.loop as loop
    import core.superhf.step as step
    from core.errors import InputError
    from core.sampling.generation import Completion
    from core.superhf.config import SuperHFConfig
    from core.superhf.distributed import ProcessFailed, combine_metrics
    from core.superhf.policy import build_policy
    from core.superhf.run import schedule, steps_per_iteration

    result = {}
    config = SuperHFConfig(max_new_tokens=8, superbatch_size=2, prompts_per_iteration=8, minibatch_size=2, epochs=2,
                           iterations=1, lora_dropout=0.0, learning_rate=1e-2)
    policy = build_policy(Path(model_dir), config, device="cpu")
    params = policy.trainable_parameters()

    # 1. One step on different answers; process 1 runs out of memory at 2 completions per pass.
    answers = {0: [Completion(0, "Name a fruit.", "A ripe banana.", True, 0),
                   Completion(1, "Name a colour.", "Blue, mostly.", True, 0)],
               1: [Completion(0, "Say hello.", "Hello there, friend.", False, 0),
                   Completion(1, "Count to three.", "One two three.", True, 0)]}[rank]
    real_loss = step.superhf_loss
    if rank == 1:
        def small_memory(logits, reference, batch, beta, **how):
            if batch.input_ids.shape[0] > 1:
                raise torch.OutOfMemoryError("out of memory (simulated)")
            return real_loss(logits, reference, batch, beta, **how)
        step.superhf_loss = small_memory
    sgd = torch.optim.SGD(params, lr=0.5)
    step._gradients(policy, answers, config, sgd, step.MicroBatch(2), True)  # this process's own, unshared
    own = [p.grad.clone() for p in params]
    both = _everyone(own)
    for p, g0, g1 in zip(params, *both):  # what one process would apply from the mean gradient
        p.grad = (g0 + g1) / 2
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    expected = [-0.5 * p.grad for p in params]
    before = [p.detach().clone() for p in params]
    micro = step.MicroBatch(2, processes=processes)
    step.optimise_step(policy, answers, config, sgd, None, micro)
    step.superhf_loss = real_loss
    result["update_error"] = max(float((p.detach() - b - e).abs().max()) for p, b, e in zip(params, before, expected))
    result["own_gradients_differ"] = any(not torch.allclose(a, b) for a, b in zip(*both))
    result["micro_batch_after"] = micro.size

    # 2. An iteration where this process kept fewer answers (process 1: two prompts answered empty).
    real_sample = loop.sample
    sampled = []

    def sample(lm, prompts, n, settings, **kw):
        from dataclasses import replace

        sampled.extend(prompts)

        return [replace(c, text="") if rank == 1 and c.prompt_index < 2 else c
                for c in real_sample(lm, prompts, n, settings, **kw)]
    loop.sample = sample
    scored = []

    def reward_fn(prompts, completions):
        scored.extend(prompts)
        return [-float(len(c)) for c in completions]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    scheduler = schedule(optimizer, 0, [config.iterations * steps_per_iteration(config, 2)])
    prompts = loop.iteration_prompts(PROMPTS, config, 1)[rank::2]
    metrics = loop.superhf_iteration(policy, reward_fn, prompts, config, optimizer, scheduler, 1,
                                     processes=processes)
    loop.sample = real_sample
    combined = combine_metrics(_everyone(metrics))
    result.update(sampled=sampled, scored=sorted(set(scored)), kept=metrics["kept"], steps=scheduler.last_epoch,
                  learning_rate=scheduler.get_last_lr()[0], combined_samples=combined["samples"],
                  samples=metrics["samples"], keys_without_rule=[k for k in combined if not has_rule(k)])
    result["same_weights"] = all(torch.equal(a, b) for a, b in zip(*_everyone([p.detach() for p in params])))

    # 3. A failure on the main process reaches the other with its kind and message.
    for error in (InputError("The prompts file has no 'prompt' field."), torch.OutOfMemoryError("device lost")):
        def fail():
            if rank == 0:
                raise error
        try:
            processes.together(fail)
        except BaseException as e:  # noqa: BLE001 - what each process raised is the point
            result.setdefault("raised", []).append(
                [type(e).__name__, str(e), isinstance(e, ProcessFailed) and e.kind])
    Path(out, f"{rank}.json").write_text(json.dumps(result))


def _two_processes(rank: int, port: int, model_dir: str, home: str, out: str) -> None:
    """What each of the two processes does: the engine's steps, then a stored run that fails."""
    processes = _join(rank, port)
    _train_together(rank, processes, model_dir, out)
    _run_failing(rank, home, out)


def _run_failing(rank: int, home: str, out: str) -> None:
    from core.errors import ModelError
    from core.store.database import open_store
    from core.superhf.run import run_superhf

    def reward_fn(prompts, completions):
        if rank == 1:
            raise ModelError("The reward model broke in process 1.")
        return [0.0] * len(completions)
    try:
        with open_store(Path(home)) as store:
            run_superhf(store, "pair", reward_fn=reward_fn, device="cpu")
        said = "finished"
    except Exception as e:  # noqa: BLE001
        said = f"{type(e).__name__}: {e}"
    Path(out, f"{rank}.txt").write_text(said)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, tiny_model_dir) -> Path:
    """Two processes launched once for this module's tests (starting one takes seconds): a
    workspace with the tiny model and a run for them; the folder where they wrote what they saw."""
    from conftest import write_jsonl
    from core.models.importing import import_model
    from core.store.database import open_store
    from core.store.prompts import import_prompts
    from core.store.runs import create_run
    from core.superhf.config import SuperHFConfig

    folder = tmp_path_factory.mktemp("two-processes")
    home = folder / "home"
    with open_store(home) as store:
        model = import_model(store, tiny_model_dir, name="tiny")["name"]
        import_prompts(store, write_jsonl(folder / "p.jsonl", [{"prompt": p} for p in PROMPTS]), set_name="p")
        config = SuperHFConfig(iterations=2, max_new_tokens=6, superbatch_size=2, prompts_per_iteration=4,
                               eval_prompts=0)
        create_run(store, name="pair", model_id=store.model(model)["id"], reward_model_id=None,
                   prompt_set_id=store.one("SELECT id FROM prompt_sets WHERE name = 'p'")["id"], config=config.to_dict())
    _launch(_two_processes, (_free_port(), str(tiny_model_dir), str(home), str(folder)), stop_all_when_one_exits=True)
    return folder


def test_two_processes_average_gradients_train_different_prompts_and_keep_in_step(two_processes):
    from core.superhf.config import SuperHFConfig
    from core.superhf.loop import iteration_prompts
    from core.superhf.run import steps_per_iteration

    r0, r1 = (json.loads((two_processes / f"{rank}.json").read_text()) for rank in (0, 1))
    # the update both applied is the one a single process makes from the mean of their gradients
    assert r0["own_gradients_differ"] and r1["own_gradients_differ"]
    assert r0["update_error"] < 1e-6 and r1["update_error"] < 1e-6
    assert r0["micro_batch_after"] == r1["micro_batch_after"] == 1  # process 1's halving, agreed
    # each trained on its own half of the round's prompts
    config = SuperHFConfig(prompts_per_iteration=8, minibatch_size=2, epochs=2, iterations=1)
    round_prompts = iteration_prompts(PROMPTS, config, 1)
    assert sorted(r0["sampled"] + r1["sampled"]) == sorted(round_prompts) and len(r0["sampled"]) == 4
    assert set(r0["scored"]) == set(r0["sampled"]) and set(r1["scored"]) == set(r1["sampled"][2:])  # 2 came empty
    # process 1 kept 2 answers to 0's 4, and still took every step with it; the schedule ended at 0
    assert (r0["kept"], r1["kept"]) == (4, 2)
    assert r0["steps"] == r1["steps"] == steps_per_iteration(config, 2) == 4
    assert r0["learning_rate"] == r1["learning_rate"] < 1e-6 * config.learning_rate
    assert r0["same_weights"] and r1["same_weights"]
    assert r0["combined_samples"] == r0["samples"] + r1["samples"] and r0["keys_without_rule"] == []
    assert r1["raised"] == [["InputError", "The prompts file has no 'prompt' field.", False],
                            ["ProcessFailed", "device lost", "torch.OutOfMemoryError"]]
    assert r0["raised"][0] == ["InputError", "The prompts file has no 'prompt' field.", False]
    assert r0["raised"][1][:2] == ["OutOfMemoryError", "device lost"]  # its own error, as it was


def test_an_error_in_one_process_stops_both_with_its_message_and_the_run_failed(two_processes):
    """Process 1's reward model fails in the first round; the launcher stops the other as soon
    as one exits (as torchrun does): the main process has recorded the failure by then."""
    from core.store.database import open_store
    from core.store.runs import get_run

    message = "The reward model broke in process 1."
    assert (two_processes / "1.txt").read_text() == f"ModelError: {message}"
    with open_store(two_processes / "home") as store:
        run = get_run(store, "pair")
    assert (run["status"], run["error"]) == ("failed", message)  # recorded by the main process
