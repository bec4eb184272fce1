"""Trying a model on a question: the answer streams as it is written and ends as the batch
sampler's would, a system prompt reaches the model, a tuned run answers from its checkpoint,
and every mistake ends in a message that says what to do."""

import pytest

from core.errors import Cancelled, InputError, NotFoundError
from core.journey.chat import CHAT_STAGE, answer, ask, chat_prompt_ids, load_chat_model, shown_so_far
from core.progress import CancelToken
from core.sampling.generation import SamplingSettings, encode_prompt, sample
from core.store.prompts import add_prompts
from core.store.runs import create_run
from core.superhf.config import SuperHFConfig
from core.superhf.run import run_superhf

# Seeded: the tiny random model decodes greedily to tokens that spell nothing.
SEEDED = SamplingSettings(max_new_tokens=12, temperature=1.0, seed=3, precision="float32")


@pytest.fixture
def tuned_run(store, tiny_model):
    add_prompts(store, [(f"Tell me about thing {i}.", "eval" if i < 3 else "train") for i in range(8)], "things")
    config = SuperHFConfig(iterations=1, prompts_per_iteration=2, superbatch_size=2, max_new_tokens=6,
                           eval_prompts=0, learning_rate=1e-2)
    create_run(store, name="r", model_id=store.model(tiny_model)["id"], reward_model_id=None,
               prompt_set_id=store.one("SELECT id FROM prompt_sets")["id"], config=config.to_dict())
    run_superhf(store, "r", reward_fn=lambda prompts, texts: [-len(t) for t in texts])
    return "r"


def test_the_answer_streams_and_is_the_one_the_batch_sampler_draws_with_the_same_seed(store, tiny_model):
    chat_model = load_chat_model(store, tiny_model, device="cpu")
    assert (chat_model.kind, chat_model.label) == ("model", "tiny (base model)")
    assert chat_prompt_ids(chat_model.lm.tokenizer, "Why is the sky blue?") == encode_prompt(
        chat_model.lm.tokenizer, "Why is the sky blue?")  # no system prompt: the prompt training sees
    seen = []
    result = answer(chat_model, "Why is the sky blue?", settings=SEEDED, on_text=lambda t, n: seen.append((t, n)))
    expected = sample(chat_model.lm, ["Why is the sky blue?"], 1, SEEDED)[0]
    assert result["text"] == expected.text and result["new_tokens"] == expected.new_tokens
    assert result["finished"] == expected.ends_turn
    assert len(seen) > 1 and seen[-1][0].strip() == result["text"]  # partial texts first, the whole at the end
    assert [n for _, n in seen] == sorted(n for _, n in seen)
    assert all(later.startswith(earlier.rstrip()) for (earlier, _), (later, _) in zip(seen, seen[1:]))


def test_a_system_prompt_reaches_the_model_and_a_template_without_system_turns_gets_it_in_the_question(
        store, tiny_model):
    tokenizer = load_chat_model(store, tiny_model, device="cpu").lm.tokenizer
    text = tokenizer.decode(chat_prompt_ids(tokenizer, "Hi?", "Answer like a pirate."))
    assert "Answer like a pirate." in text and text.index("pirate") < text.index("Hi?")

    class NoSystemTurns:
        chat_template = "yes"
        bos_token_id = None

        def apply_chat_template(self, turns, **_):
            if any(t["role"] == "system" for t in turns):
                raise ValueError("System role not supported")
            return "<user>" + turns[0]["content"] + "<model>"

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    ids = chat_prompt_ids(NoSystemTurns(), "Hi?", "Be brief.")
    assert "".join(map(chr, ids)) == "<user>Be brief.\n\nHi?<model>"


def test_what_is_shown_holds_back_a_line_that_may_open_an_invented_turn():
    assert shown_so_far("Hello\nUs") == ("Hello\n", False)
    assert shown_so_far("Hello\nUser: and you?") == ("Hello", True)
    assert shown_so_far("### Assistant") == ("", False)
    assert shown_so_far("Use a pen.") == ("Use a pen.", False)
    assert shown_so_far(" caf\ufffd") == ("caf", False)  # a character still being written


def test_a_tuned_run_answers_from_its_checkpoint_after_the_base_model(store, tuned_run):
    chat_model = load_chat_model(store, tuned_run, device="cpu")
    assert chat_model.kind == "run" and chat_model.label == "r (tuned, round 1 of tiny)"
    assert not hasattr(chat_model.lm.model, "peft_config")  # LoRA merged: one plain model answers
    events = []
    answers = ask(store, ["tiny", "r"], "Tell me about thing 9.", settings=SEEDED, device="cpu",
                  on_progress=events.append)
    assert [a["model"] for a in answers] == ["tiny", "r"] and [a["kind"] for a in answers] == ["model", "run"]
    answering = [e for e in events if e.stage == CHAT_STAGE]
    assert [e.detail["side"] for e in answering] == sorted(e.detail["side"] for e in answering)  # base first
    ends = [e for e in answering if e.detail.get("complete")]
    assert [(e.detail["model"], e.detail["text"]) for e in ends] == [("tiny", answers[0]["text"]),
                                                                    ("r", answers[1]["text"])]


def test_mistakes_say_what_to_do(store, tiny_model):
    with pytest.raises(NotFoundError, match="'superhf model list' and 'superhf runs list'"):
        load_chat_model(store, "nope")
    add_prompts(store, [("Say hi.", "train")], "things")
    create_run(store, name="fresh", model_id=store.model(tiny_model)["id"], reward_model_id=None,
               prompt_set_id=store.one("SELECT id FROM prompt_sets")["id"], config=SuperHFConfig().to_dict())
    with pytest.raises(InputError, match="no finished round yet.*superhf resume fresh"):
        load_chat_model(store, "fresh")
    with pytest.raises(InputError, match="question is empty"):
        ask(store, [tiny_model], "   ")
    chat_model = load_chat_model(store, tiny_model, device="cpu")
    with pytest.raises(InputError, match="passes the model's limit of 512. Shorten it"):
        answer(chat_model, "word " * 600, settings=SEEDED)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        answer(chat_model, "Hello?", settings=SEEDED, cancel=cancel)
