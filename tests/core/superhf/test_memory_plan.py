"""The memory plan (core.superhf.memory) on tiny model shapes with the free memory made up:
it keeps the whole micro-batch when there is room, shrinks it, then recomputes activations
when memory is tight, and refuses, saying what it needs and the way out, when even one
completion at a time with recomputing cannot fit; a run so refused loads nothing and loses
nothing stored. Gradient checkpointing, as the policy turns it on, leaves gradients unchanged."""

from pathlib import Path

import pytest
import torch

from core.errors import InputError
from core.progress import Progress
from core.superhf.config import SuperHFConfig
from core.superhf.memory import (FILL, GiB, MemoryPlan, ModelShape, model_shape, plan_for, plan_memory,
                                 start_micro_batch, update_bytes)

TINY = {"model_type": "llama", "vocab_size": 32_000, "hidden_size": 256, "intermediate_size": 1024,
        "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True}


def free_for(need: int) -> int:
    """The free memory at which the plan has exactly ``need`` bytes to fill."""
    return int(need / FILL) + 1


def test_a_roomy_machine_keeps_the_whole_micro_batch_without_recomputing():
    shape, config = ModelShape.from_config(TINY), SuperHFConfig()
    plan = plan_memory(shape, config, "cpu", free=64 * GiB, weight_bytes=4, sample_bytes=2)
    assert (plan.micro_batch, plan.checkpointing) == (config.minibatch_size, False)
    assert plan.sampling_batch == 256  # every answer of the round at once (16 x 16), within the CPU cap
    assert plan.parts["weights"] == 4 * shape.parameters and plan.parts["sampling copy"] == 2 * shape.parameters
    assert "LoRA, micro-batch 4, gradient checkpointing off" in plan.describe()


def test_tight_memory_shrinks_the_micro_batch_then_turns_checkpointing_on():
    shape, config = ModelShape.from_config(TINY), SuperHFConfig()
    resident = 4 * shape.parameters + plan_memory(shape, config, "cpu", free=64 * GiB, weight_bytes=4).parts[
        "trained state"]

    def planned(need):
        plan = plan_memory(shape, config, "cpu", free=free_for(resident + need), weight_bytes=4)
        return plan.micro_batch, plan.checkpointing

    assert planned(update_bytes(shape, config, 4, 2, False)) == (2, False)
    assert planned(update_bytes(shape, config, 4, 1, False)) == (1, False)
    just_short = update_bytes(shape, config, 4, 1, False) - 1
    assert update_bytes(shape, config, 4, 1, True) < just_short  # recomputing saves memory...
    assert planned(just_short) == (1, True)  # ...and is what is left when one completion does not fit


def test_a_run_that_cannot_fit_is_refused_with_its_estimate_and_the_way_out():
    shape = ModelShape.from_config(TINY)
    for config, way in ((SuperHFConfig(), "Lower --max-new-tokens (now 64)"),
                        (SuperHFConfig(lora=False), "Drop --full to train LoRA adapters instead")):
        smallest = plan_memory(shape, config, "cpu", free=0, weight_bytes=4, refuse=False)
        assert (smallest.micro_batch, smallest.checkpointing) == (1, True)
        with pytest.raises(InputError) as refused:
            plan_memory(shape, config, "cpu", free=free_for(smallest.need) - 2**20, weight_bytes=4)
        message = str(refused.value)
        assert f"needs about {smallest.need / GiB:.1f} GiB of memory" in message
        assert way in message and "use a smaller model, or close other programs" in message
        assert plan_memory(shape, config, "cpu", free=free_for(smallest.need), weight_bytes=4).need <= smallest.need


def test_on_a_cuda_device_the_plan_counts_the_card_s_free_memory_and_no_mapped_files(monkeypatch, tiny_model_dir):
    import core.sampling.decoder

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setenv("SUPERHF_DTYPE", "bfloat16")  # as a card's precision probe would choose, without one
    asked = []
    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: asked.append(device) or 8 * GiB)
    plan = plan_for(tiny_model_dir, SuperHFConfig(), "cuda")
    assert asked == ["cuda"] and plan.device == "cuda" and plan.free == 8 * GiB
    assert plan.parts["weights"] == 2 * model_shape(tiny_model_dir).parameters
    assert plan.parts["sampling copy"] == 0  # it samples in bfloat16 already
    assert plan.phases["loading"] == plan.parts["weights"]  # no file mapped into the card's memory
    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: 2**20)
    with pytest.raises(InputError, match=r"needs about \d+\.\d GiB of memory on cuda and 0\.0 GiB is free"):
        plan_for(tiny_model_dir, SuperHFConfig(), "cuda")


def test_a_run_too_big_is_refused_before_loading_and_loses_nothing_stored(store, tiny_model, monkeypatch):
    import core.sampling.decoder
    import core.superhf.policy
    from core.errors import Cancelled
    from core.progress import CancelToken
    from core.store.prompts import add_prompts, find_set_id
    from core.store.runs import create_run, get_run, iterations, last_checkpoint
    from core.superhf.run import run_superhf

    add_prompts(store, [(f"Tell me about thing {i}.", "train") for i in range(4)], "p")
    config = SuperHFConfig(iterations=2, prompts_per_iteration=2, superbatch_size=2, max_new_tokens=8, epochs=1,
                           eval_prompts=0)
    run = create_run(store, name="r", model_id=store.model(tiny_model)["id"], reward_model_id=None,
                     prompt_set_id=find_set_id(store, "p"), config=config.to_dict())
    scores = lambda prompts, completions: [-float(len(c)) for c in completions]  # noqa: E731
    cancel = CancelToken()
    with pytest.raises(Cancelled):  # stopped after its first round, to be resumed
        run_superhf(store, "r", reward_fn=scores, cancel=cancel,
                    on_progress=lambda e: e.stage == "iteration" and e.done == 1 and cancel.cancel())
    before = (iterations(store, run["id"]), last_checkpoint(store, run["id"]), get_run(store, "r")["status"])
    assert before[1]["iteration"] == 1 and before[2] == "cancelled"

    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: 2**20)  # then memory fills up
    monkeypatch.setattr(core.superhf.policy, "load_model_folder", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(InputError, match=r"needs about \d+\.\d GiB of memory and 0\.0 GiB is free\. Lower"):
        run_superhf(store, "r", reward_fn=scores)
    after = (iterations(store, run["id"]), last_checkpoint(store, run["id"]), get_run(store, "r")["status"])
    assert after == before and Path(after[1]["path"]).is_dir()


def test_the_plan_is_said_once_and_sets_the_first_micro_batch_and_the_sampling_batch():
    from core.superhf.loop import sampling

    plan = MemoryPlan("cpu", 8 * GiB, True, 2, True, 48, {}, {"updating": 3 * GiB})
    policy = type("P", (), {"memory_plan": plan})()
    events: list[Progress] = []
    assert start_micro_batch(policy, SuperHFConfig(), events.append) == 2
    assert start_micro_batch(policy, SuperHFConfig(), events.append) == 2
    assert [e.detail["notice"] for e in events] == [
        "Memory plan: LoRA, micro-batch 2, gradient checkpointing on, sampling 48 at a time: about 3.0 GiB of "
        "8.0 GiB free on cpu."]
    assert start_micro_batch(type("P", (), {"memory_plan": None})(), SuperHFConfig(minibatch_size=3)) == 3
    assert sampling(SuperHFConfig(), 1, plan).batch_size == 48 and sampling(SuperHFConfig(), 1).batch_size is None


@pytest.mark.parametrize("lora", [True, False])
def test_gradient_checkpointing_leaves_the_gradients_unchanged(tiny_model_dir, monkeypatch, lora):
    import core.superhf.memory
    from core.superhf.loss import batch_logits, build_batch, superhf_loss
    from core.superhf.policy import build_policy

    config = SuperHFConfig(lora=lora, lora_dropout=0.1)  # dropout on: its masks must be replayed exactly
    batch = build_batch([[1, 5, 9, 3], [7, 2]], [[4, 8, 6], [11, 12, 13, 14]], 2, 0)
    grads, calls = {}, {}
    for checkpointing in (False, True):
        plan = MemoryPlan("cpu", 8 * GiB, lora, 2, checkpointing, 8, {}, {"updating": 1})
        monkeypatch.setattr(core.superhf.memory, "plan_for", lambda *a, **k: plan)
        policy = build_policy(tiny_model_dir, config, device="cpu")
        assert policy.memory_plan is plan
        mlp = next(m for n, m in policy.model.named_modules() if n.endswith("layers.0.mlp"))  # inside the layer
        calls[checkpointing] = 0
        mlp.register_forward_pre_hook(lambda *a, key=checkpointing: calls.__setitem__(key, calls[key] + 1))
        policy.model.train()
        torch.manual_seed(0)
        logits = batch_logits(policy.model, batch)
        loss, _, _ = superhf_loss(logits, policy.reference_logits(batch), batch, 0.35)
        loss.backward()
        grads[checkpointing] = {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.requires_grad}
    assert calls == {False: 1 + lora, True: 2 + lora}  # recomputed in the backward pass (LoRA: + the reference's)
    assert grads[True].keys() == grads[False].keys() and grads[True]
    for name, grad in grads[False].items():
        torch.testing.assert_close(grads[True][name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_the_reward_model_loaded_beside_the_policy_counts_in_the_plan(tmp_path, tiny_model_dir):
    import json

    from core.reward.versions import CONFIG_FILE
    from core.superhf.memory import reward_model_bytes

    shape, config = ModelShape.from_config({**TINY, "hidden_size": 1024, "intermediate_size": 4096}), SuperHFConfig()
    alone = plan_memory(shape, config, "cpu", free=0, weight_bytes=4, refuse=False)
    fits = free_for(alone.need)
    assert plan_memory(shape, config, "cpu", free=fits, weight_bytes=4).need <= alone.need
    reward = 4 * shape.parameters  # a reward model on the same base, in float32
    with pytest.raises(InputError) as refused:  # what fits alone does not fit beside the reward model
        plan_memory(shape, config, "cpu", free=fits, weight_bytes=4, reward_bytes=reward)
    assert reward > 0.05 * GiB and f"reward model {reward / GiB:.1f} GiB" in str(refused.value)
    beside = plan_memory(shape, config, "cpu", free=0, weight_bytes=4, reward_bytes=reward, refuse=False)
    assert beside.need == alone.need + reward and beside.parts["reward model"] == reward

    folder = tmp_path / "reward-v1"  # a stored reward model: its config names the base it reads with
    folder.mkdir()
    (folder / CONFIG_FILE).write_text(json.dumps({"base_path": str(tiny_model_dir)}))
    base = model_shape(tiny_model_dir)
    assert reward_model_bytes({"path": str(folder)}, "cpu") == 4 * base.parameters  # too small to measure: float32
    assert reward_model_bytes({"path": str(tmp_path / "gone")}, "cpu") == 0  # loading it will say what is wrong
