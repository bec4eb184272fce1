"""The SuperHF loop on the tiny model: it raises a synthetic reward, its LoRA reference is
the policy with adapters off, it checkpoints, stops on request, resumes to the very state
an uninterrupted run reaches, and exports a folder plain transformers loads."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import write_jsonl
from core.errors import Cancelled, InputError, NotFoundError
from core.journey.export import export
from core.sampling.generation import SamplingSettings, sample
from core.models.loading import load_model_folder
from core.superhf.policy import build_policy
from core.progress import CancelToken
from core.store.prompts import import_prompts
from core.store.runs import create_run, get_run, iterations, last_checkpoint
from core.superhf.run import run_superhf
from core.superhf.config import SuperHFConfig

CLOCK_READINGS = ("seconds", "created_at", "sample_tokens_per_second", "elapsed_seconds")  # differ run to run


def brevity(prompts, completions):
    """A synthetic reward: shorter answers are better. The tiny model can learn to stop."""
    return [-float(len(c)) for c in completions]


@pytest.fixture
def prompt_set(store, tmp_path):
    rows = [{"prompt": f"Tell me about thing {i}.", "split": "eval" if i % 4 == 0 else "train"} for i in range(24)]
    import_prompts(store, write_jsonl(tmp_path / "p.jsonl", rows), set_name="p")
    return store.one("SELECT id FROM prompt_sets WHERE name = 'p'")["id"]


def new_run(store, tiny_model, prompt_set, name="r", **overrides):
    settings = dict(iterations=3, max_new_tokens=12, superbatch_size=4, prompts_per_iteration=8, eval_prompts=6)
    config = SuperHFConfig(**{**settings, **overrides})
    model_id = store.model(tiny_model)["id"]
    return create_run(store, name=name, model_id=model_id, reward_model_id=None, prompt_set_id=prompt_set,
                      config=config.to_dict())


def mean_brevity(lm, prompts):
    answers = sample(lm, prompts, 4, SamplingSettings(max_new_tokens=12, seed=123))
    return sum(brevity(None, [a.text for a in answers])) / len(answers)


def test_a_few_iterations_raise_the_reward_on_held_out_prompts(store, tiny_model, prompt_set):
    # Full fine-tuning: the tiny random model's near-uniform outputs barely move under LoRA.
    new_run(store, tiny_model, prompt_set, iterations=6, lora=False, learning_rate=3e-2, prompts_per_iteration=16,
            kl_coefficient=0.1)
    run_superhf(store, "r", reward_fn=brevity)
    held_out = [r["text"] for r in store.all("SELECT text FROM prompts WHERE split = 'eval'")]
    base = load_model_folder(Path(store.model(tiny_model)["path"]))
    tuned = build_policy(Path(store.model(tiny_model)["path"]), SuperHFConfig(lora=False),
                         checkpoint=Path(last_checkpoint(store, get_run(store, "r")["id"])["path"]))
    assert mean_brevity(tuned.lm, held_out) > mean_brevity(base, held_out) + 5  # characters shorter on average
    its = iterations(store, get_run(store, "r")["id"])
    assert [i["iteration"] for i in its] == list(range(7))
    assert its[-1]["eval_reward"] > its[0]["eval_reward"]
    for key in ("reward_mean", "reward_std", "kept_reward_mean", "kl", "ce", "distinct_2", "self_bleu",
                "mean_length", "cut_off_share", "kept_cut_off_share", "seconds", "sample_tokens_per_second"):
        assert key in its[1]
    assert all(0 <= i[share] <= 1 for i in its[1:] for share in ("cut_off_share", "kept_cut_off_share"))
    assert its[1]["kept_reward_mean"] >= its[1]["reward_mean"]  # the best of each prompt is kept
    assert get_run(store, "r")["status"] == "finished"


def test_the_lora_reference_is_the_policy_with_adapters_off(tiny_model_dir):
    policy = build_policy(tiny_model_dir, SuperHFConfig())
    base = load_model_folder(tiny_model_dir)
    from core.superhf.loss import build_batch

    batch = build_batch([[5, 6, 7]], [[9, 10]], 2, 0)
    keep = 4  # the positions that predict 9, 10 and EOS, and the last one
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.add_(0.5)  # the adapters now change the policy
        expected = base.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        assert torch.allclose(policy.reference_logits(batch), expected[:, -keep:], atol=1e-5)
        tuned = policy.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        assert not torch.allclose(tuned[:, -keep:], expected[:, -keep:], atol=1e-3)
    trainable = sum(p.numel() for p in policy.trainable_parameters())
    assert 0 < trainable < sum(p.numel() for p in policy.model.parameters()) / 10


def test_checkpoints_are_complete_recorded_and_pruned(store, tiny_model, prompt_set):
    run = new_run(store, tiny_model, prompt_set, iterations=3, keep_checkpoints=2)
    run_superhf(store, "r", reward_fn=brevity)
    rows = store.all("SELECT iteration, path FROM checkpoints WHERE run_id = ? ORDER BY iteration", [run["id"]])
    assert [r["iteration"] for r in rows] == [2, 3]
    folders = sorted(p.name for p in (store.workspace.checkpoints_dir / "r").iterdir())
    assert folders == ["iter-0002", "iter-0003"]
    last = Path(rows[-1]["path"])
    assert (last / "adapter" / "adapter_model.safetensors").is_file() and (last / "trainer.pt").is_file()
    state = torch.load(last / "trainer.pt", weights_only=True)  # loads without pickle's code execution
    assert state["iteration"] == 3 and "optimizer" in state
    assert list(store.workspace.tmp_dir.iterdir()) == []


def adapter(store, run_name):
    path = Path(last_checkpoint(store, get_run(store, run_name)["id"])["path"])
    return load_file(str(path / "adapter" / "adapter_model.safetensors"))


def test_a_cancelled_run_resumes_to_the_same_state_as_an_uninterrupted_one(store, tiny_model, prompt_set):
    new_run(store, tiny_model, prompt_set, name="whole", learning_rate=1e-2)
    run_superhf(store, "whole", reward_fn=brevity)

    new_run(store, tiny_model, prompt_set, name="stopped", learning_rate=1e-2)
    cancel = CancelToken()

    def stop_in_iteration_two(event):
        if event.stage == "updating" and get_run(store, "stopped")["status"] == "running" and \
                last_checkpoint(store, get_run(store, "stopped")["id"]) is not None:
            cancel.cancel()  # mid-update of iteration 2

    with pytest.raises(Cancelled):
        run_superhf(store, "stopped", reward_fn=brevity, on_progress=stop_in_iteration_two, cancel=cancel)
    stopped = get_run(store, "stopped")
    assert stopped["status"] == "cancelled"
    assert last_checkpoint(store, stopped["id"])["iteration"] == 1
    assert [i["iteration"] for i in iterations(store, stopped["id"])] == [0, 1]

    run_superhf(store, "stopped", reward_fn=brevity)
    whole, resumed = adapter(store, "whole"), adapter(store, "stopped")
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    metrics = lambda name: [{k: v for k, v in i.items() if k not in CLOCK_READINGS}
                            for i in iterations(store, get_run(store, name)["id"])]
    assert metrics("whole") == metrics("stopped")


def test_export_loads_in_plain_transformers_and_generates_what_the_app_does(store, tiny_model, prompt_set, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    new_run(store, tiny_model, prompt_set, iterations=1, learning_rate=5e-2)
    run_superhf(store, "r", reward_fn=brevity)
    out = tmp_path / "exported"
    result = export(store, "r", out)
    assert result["lora_merged"] and (out / "model.safetensors").is_file()
    card = (out / "README.md").read_text()
    assert "run **r**" in card and "| 1 |" in card and '"kl_coefficient": 0.35' in card
    assert "states none that the app could read" in card  # the tiny model's folder says no licence

    plain = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    original = AutoTokenizer.from_pretrained(store.model(tiny_model)["path"], local_files_only=True)
    # the base's own tokenizer settings, not the app's left padding for sampling
    assert (tokenizer.padding_side, tokenizer.pad_token) == (original.padding_side, original.pad_token)
    assert original.padding_side == "right"
    policy = build_policy(Path(store.model(tiny_model)["path"]), SuperHFConfig(),
                          checkpoint=Path(last_checkpoint(store, get_run(store, "r")["id"])["path"]))
    ids = tokenizer("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt")
    with torch.no_grad():
        # The adapters as trained and the merged export compute the same function...
        assert torch.allclose(policy.model(**ids).logits, plain(**ids).logits, atol=1e-5)
        # ...and the merged model the app generates with is, bit for bit, the exported one.
        merged = policy.model.merge_and_unload()
        ours = merged.generate(**ids, do_sample=False, max_new_tokens=10)
        theirs = plain.generate(**ids, do_sample=False, max_new_tokens=10)
    assert torch.equal(ours, theirs)

    with pytest.raises(InputError, match="not empty"):
        export(store, "r", out)
    assert (out / "model.safetensors").is_file()  # refused: left as it was
    export(store, "r", out, force=True, adapter_only=True)
    assert (out / "adapter_model.safetensors").is_file() and not (out / "model.safetensors").exists()
    assert store.count("exports") == 2


def test_export_refusals(store, tiny_model, prompt_set, tmp_path):
    with pytest.raises(NotFoundError, match="No run or model named 'ghost'"):
        export(store, "ghost", tmp_path / "x")
    new_run(store, tiny_model, prompt_set)
    with pytest.raises(InputError, match="no finished iteration"):
        export(store, "r", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    export(store, tiny_model, tmp_path / "copy")  # a workspace model exports as it is
    assert (tmp_path / "copy" / "model.safetensors").is_file()


def test_run_settings_and_names_are_checked(store, tiny_model, prompt_set):
    with pytest.raises(InputError, match="superbatch_size must be at least 2"):
        SuperHFConfig(superbatch_size=1)
    with pytest.raises(InputError, match="kl_coefficient"):
        SuperHFConfig(kl_coefficient=-1)
    new_run(store, tiny_model, prompt_set)
    with pytest.raises(InputError, match="exists already"):
        new_run(store, tiny_model, prompt_set)
    with pytest.raises(InputError, match="letters, digits"):
        new_run(store, tiny_model, prompt_set, name="bad name/..")
    assert json.loads(get_run(store, "r")["config"])["superbatch_size"] == 4


@pytest.mark.parametrize("weight", ["tokens", "answers"])
def test_out_of_memory_halves_the_micro_batch_and_the_update_stays_the_same(store, tiny_model, prompt_set,
                                                                            monkeypatch, weight):
    import core.superhf.step as step

    settings = dict(iterations=1, learning_rate=1e-2, lora_dropout=0.0, minibatch_size=4, answer_weight=weight)
    new_run(store, tiny_model, prompt_set, name="roomy", **settings)
    run_superhf(store, "roomy", reward_fn=brevity)

    real = step.superhf_loss
    calls = []

    def small_gpu(logits, reference, batch, beta, **how):  # a GPU that fits one completion at a time
        calls.append(batch.input_ids.shape[0])
        if batch.input_ids.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(logits, reference, batch, beta, **how)

    monkeypatch.setattr(step, "superhf_loss", small_gpu)
    new_run(store, tiny_model, prompt_set, name="cramped", **settings)
    run_superhf(store, "cramped", reward_fn=brevity)
    assert calls[:3] == [4, 2, 1]  # halved twice, then on
    last = iterations(store, get_run(store, "cramped")["id"])[-1]
    assert last["micro_batch"] == 1
    assert any("micro-batch halved to 1" in w for w in last["warnings"])
    roomy, cramped = adapter(store, "roomy"), adapter(store, "cramped")
    for key in roomy:  # micro-batches weighted by tokens or answers add up to the whole minibatch's gradient
        assert torch.allclose(roomy[key], cramped[key], atol=1e-5), key


def test_out_of_memory_with_one_completion_says_what_to_do(store, tiny_model, prompt_set, monkeypatch):
    import core.superhf.step as step

    def no_gpu_left(*args, **how):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(step, "superhf_loss", no_gpu_left)
    new_run(store, tiny_model, prompt_set, iterations=1)
    from core.errors import ModelError

    with pytest.raises(ModelError, match="Lower --max-new-tokens"):
        run_superhf(store, "r", reward_fn=brevity)
    assert get_run(store, "r")["status"] == "failed"
    assert last_checkpoint(store, get_run(store, "r")["id"]) is None


def test_a_stop_asked_for_while_scoring_reaches_the_reward_model(ready_home, monkeypatch):
    """Scoring a superbatch takes seconds on a CPU: a stop must not wait for it to end."""
    from core.reward.versions import RewardScorer
    from core.store.database import open_store

    seen = []
    real = RewardScorer.score

    def score(self, prompts, completions, *args, cancel=None, **kwargs):
        seen.append(cancel)
        cancel.cancel()  # the user presses Stop while the reward model is busy
        return real(self, prompts, completions, *args, cancel=cancel, **kwargs)

    monkeypatch.setattr(RewardScorer, "score", score)
    token = CancelToken()
    with open_store(ready_home) as store:
        reward = store.one("SELECT id FROM reward_models")["id"]
        set_id = store.one("SELECT id FROM prompt_sets")["id"]
        create_run(store, name="s", model_id=store.model("tiny")["id"], reward_model_id=reward, prompt_set_id=set_id,
                   config=SuperHFConfig(iterations=2, max_new_tokens=6, superbatch_size=2, prompts_per_iteration=2,
                                        eval_prompts=0).to_dict())
        with pytest.raises(Cancelled):
            run_superhf(store, "s", cancel=token)
        assert seen == [token]  # scoring stopped at its first batch: nothing after it ran
        assert get_run(store, "s")["status"] == "cancelled"
        assert [i["iteration"] for i in iterations(store, get_run(store, "s")["id"])] == [0]


def test_epochs_pass_over_the_kept_answers_again_with_the_schedule_stretched(store, tiny_model, prompt_set,
                                                                           monkeypatch):
    import core.superhf.loop as loop

    steps = []
    real = loop.optimise_step

    def counting(policy, chunk, config, optimizer, scheduler, micro):
        steps.append((len(chunk), scheduler.get_last_lr()[0]))
        return real(policy, chunk, config, optimizer, scheduler, micro)

    monkeypatch.setattr(loop, "optimise_step", counting)
    new_run(store, tiny_model, prompt_set, name="twice", iterations=1, epochs=2, minibatch_size=4)
    run_superhf(store, "twice", reward_fn=brevity)
    assert [n for n, _ in steps] == [4, 4, 4, 4]  # 8 kept answers, 2 passes of 2 steps
    rates = [lr for _, lr in steps]
    assert rates[0] > 0 and rates == sorted(rates, reverse=True) and rates[-1] > 0  # one decay over all 4


def test_a_disk_without_room_for_a_checkpoint_stops_the_run_in_plain_words(store, tiny_model, prompt_set,
                                                                           monkeypatch):
    import core.store.atomic as atomic

    new_run(store, tiny_model, prompt_set, iterations=2, lora=False)
    real = atomic.free_bytes
    # room for the first round's checkpoint, then the disk is full
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: real(folder) if not iterations(
        store, get_run(store, "r")["id"])[1:] else 2**20)
    with pytest.raises(InputError, match="Not enough free disk space for the checkpoint of round 2"):
        run_superhf(store, "r", reward_fn=brevity)
    run = get_run(store, "r")
    assert run["status"] == "failed" and "disk space" in run["error"]
    assert last_checkpoint(store, run["id"])["iteration"] == 1  # the first round's work is kept
    monkeypatch.setattr(atomic, "free_bytes", real)
    run_superhf(store, "r", reward_fn=brevity)  # space freed: it resumes from round 1
    assert [i["iteration"] for i in iterations(store, run["id"])] == [0, 1, 2]
