"""The head start: the reward model's pick of the answers already stored for each training
prompt (those made for rating, and the person's chosen ones), learnt before the first round."""

from pathlib import Path

import torch

from conftest import write_jsonl
from core.sampling.generation import Completion
from core.store.generations import add_generations
from core.store.prompts import import_prompts
from core.store.ratings import add_ratings, pair
from core.store.runs import create_run, get_run, iteration_metrics
from core.superhf.config import SuperHFConfig
from core.superhf.head_start import stored_answers
from core.superhf.loop import best_of_each_prompt
from core.superhf.run import run_superhf

TRAIN = ["Tell me about the sea.", "Name a colour."]


def brevity(prompts, completions):
    return [-float(len(c)) for c in completions]


def stored(store, model_id, prompt, text, finished):
    return {"model_id": model_id, "prompt": prompt, "completion": text, "finished": int(finished), "new_tokens": 3,
            "settings": "{}", "created_at": "2026-12-01"}


def workspace(store, tiny_model, tmp_path):
    rows = [{"prompt": p, "split": "train"} for p in TRAIN] + [{"prompt": "Held out?", "split": "eval"}]
    import_prompts(store, write_jsonl(tmp_path / "p.jsonl", rows), set_name="p")
    model_id = store.model(tiny_model)["id"]
    add_generations(store, [stored(store, model_id, TRAIN[0], "The sea is wide and deep", False),
                            stored(store, model_id, TRAIN[0], "Salty.", True),
                            stored(store, model_id, TRAIN[0], "Salty.", False),  # the same text again
                            stored(store, model_id, TRAIN[1], "Blue is a colour.", True),
                            stored(store, model_id, "Held out?", "No.", True)])  # not a training prompt
    add_ratings(store, [pair(TRAIN[1], "Red.", "Blue is a colour.")], source="written")
    add_ratings(store, [pair("Held out?", "Yes.", "No.")], source="compare")
    return model_id


def test_stored_answers_are_the_training_prompts_answers_and_chosen_ones_once_each(store, tiny_model, tmp_path):
    model_id = workspace(store, tiny_model, tmp_path)
    answers = stored_answers(store, TRAIN, model_id)
    got = sorted((a.prompt_index, a.text, a.finished) for a in answers)
    assert got == [(0, "Salty.", True), (0, "The sea is wide and deep", False),  # finished if it ever finished
                   (1, "Blue is a colour.", True), (1, "Red.", True)]  # a written answer ends its turn
    assert stored_answers(store, TRAIN, model_id + 1) == [a for a in answers if a.text == "Red."]  # another model's


def test_the_best_of_each_prompt_is_kept_the_first_of_equals():
    answers = [Completion(0, "p", "a", True, 1), Completion(1, "q", "b", True, 1), Completion(0, "p", "c", True, 1),
               Completion(1, "q", "d", True, 1)]
    best = best_of_each_prompt(answers, [1.0, 2.0, 3.0, 2.0])
    assert [answers[best[k]].text for k in sorted(best)] == ["c", "b"]


def test_a_run_with_a_head_start_learns_the_picked_answers_first_and_records_it(store, tiny_model, tmp_path,
                                                                               monkeypatch):
    import core.superhf.head_start as head

    model_id = workspace(store, tiny_model, tmp_path)
    seen = []
    real = head.optimise_step

    def watching(policy, chunk, config, optimizer, scheduler, micro):
        seen.append(([c.text for c in chunk], scheduler, optimizer.param_groups[0]["lr"]))
        return real(policy, chunk, config, optimizer, scheduler, micro)

    monkeypatch.setattr(head, "optimise_step", watching)
    config = SuperHFConfig(iterations=1, max_new_tokens=8, superbatch_size=2, prompts_per_iteration=2,
                           eval_prompts=1, head_start=3, minibatch_size=4)
    set_id = store.one("SELECT id FROM prompt_sets WHERE name = 'p'")["id"]
    create_run(store, name="h", model_id=model_id, reward_model_id=None, prompt_set_id=set_id, config=config.to_dict())
    run_superhf(store, "h", reward_fn=brevity)
    assert len(seen) == 3  # 3 passes over 2 kept answers, one step each
    assert all(sorted(texts) == ["Red.", "Salty."] for texts, _, _ in seen)  # the shortest: brevity's pick
    assert all(scheduler is None and lr == config.learning_rate for _, scheduler, lr in seen)  # the run's rate
    first = iteration_metrics(store, get_run(store, "h")["id"], 0)
    assert first["head_start_kept"] == 2 and first["head_start_steps"] == 3 and first["head_start_finished"] == 1.0
    assert "eval_reward" in first  # the base model's evaluation stays


def test_no_head_start_without_stored_answers_for_the_training_prompts(store, tiny_model, tmp_path, monkeypatch):
    import core.superhf.head_start as head

    import_prompts(store, write_jsonl(tmp_path / "p.jsonl", [{"prompt": p} for p in TRAIN]), set_name="q")
    calls = []
    monkeypatch.setattr(head, "optimise_step", lambda *a: calls.append(a) or (0.0, 0.0))
    model_id = store.model(tiny_model)["id"]
    set_id = store.one("SELECT id FROM prompt_sets WHERE name = 'q'")["id"]
    config = SuperHFConfig(iterations=1, max_new_tokens=8, superbatch_size=2, prompts_per_iteration=2,
                           eval_prompts=0, head_start=2)
    create_run(store, name="none-stored", model_id=model_id, reward_model_id=None, prompt_set_id=set_id,
               config=config.to_dict())
    run_superhf(store, "none-stored", reward_fn=brevity)
    assert calls == [] and "head_start_kept" not in iteration_metrics(store, get_run(store, "none-stored")["id"], 0)
