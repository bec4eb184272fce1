"""The Try page, through its widgets: the base model's and a tuned run's answers stream in
side by side from the engine's process and end whole, Stop ends them, the question joins a
prompt set with one click, and the pair of answers is stored as a rating like any other."""

import pytest
from gui_helpers import dialogs, close_dialogs, wait_idle
from PySide6.QtCore import Qt

from core.store.database import open_store
from core.store.prompts import prompts_of
from core.store.runs import create_run
from core.superhf.config import SuperHFConfig
from core.superhf.run import run_superhf


@pytest.fixture
def tuned_home(ready_home):
    """The ready workspace with a run of one round (its reward: shorter answers)."""
    with open_store(ready_home) as store:
        config = SuperHFConfig(iterations=1, prompts_per_iteration=2, superbatch_size=2, max_new_tokens=6,
                               eval_prompts=0, learning_rate=1e-2)
        create_run(store, name="first", model_id=store.model("tiny")["id"], reward_model_id=None,
                   prompt_set_id=store.one("SELECT id FROM prompt_sets")["id"], config=config.to_dict())
        run_superhf(store, "first", reward_fn=lambda prompts, texts: [-len(t) for t in texts])
    return ready_home


def open_page(qtbot, home):
    from desktop.pages.try_page import TryPage
    from desktop.studio import Studio

    page = TryPage(Studio(home))
    qtbot.addWidget(page)
    page.show()
    return page


def ask(qtbot, page, question, seed=0):
    page.seed = seed
    page.question.setPlainText(question)
    qtbot.mouseClick(page.ask_button, Qt.LeftButton)
    assert page.job is not None


def test_with_nothing_asked_the_page_says_what_to_do(qtbot, home):
    page = open_page(qtbot, home)
    assert page.status.text().startswith("Import a model first (page 1)")
    assert not page.ask_button.isEnabled() and not page.stop_button.isEnabled()
    assert "shows here as it is written" in page.views[0].placeholderText()
    assert "No tuned run yet" in page.views[1].placeholderText()
    assert not any(b.isEnabled() for b in page.rate_buttons) and "not blind" in page.rate_note.text()
    page.studio.shutdown()


def test_both_answers_stream_in_and_end_whole_then_the_pair_is_rated(qtbot, tuned_home):
    page = open_page(qtbot, tuned_home)
    assert (page.base.currentText(), page.run.currentText()) == ("tiny", "first")
    assert "first" in page.headings[1].text() and page.status.text() == "Type a question and press Ask."
    ask(qtbot, page, "Why is the sky blue?")
    assert not page.ask_button.isEnabled() and page.stop_button.isEnabled()
    shown = {0: [], 1: []}
    page.job.progress.connect(lambda e: e.stage == "answering" and shown[e.detail["side"]].append(
        page.views[e.detail["side"]].toPlainText()))
    results = []
    page.job.succeeded.connect(results.append)
    wait_idle(qtbot, page.studio)
    answers = [a["text"] for a in results[0]["chats"][0]["answers"]]
    assert [a["model"] for a in results[0]["chats"][0]["answers"]] == ["tiny", "first"]
    for side in (0, 1):
        assert len(shown[side]) > 2 and len(set(shown[side])) > 2  # partial texts, then the whole
        assert page.views[side].toPlainText().strip() == shown[side][-1].strip()
    assert answers[0] and page.views[0].toPlainText().split() == answers[0].split()  # Markdown, same words
    assert page.status.text() == "Done. Which answer is better?" and page.ask_button.isEnabled()
    qtbot.mouseClick(page.rate_buttons[2], Qt.LeftButton)  # the right one (the tuned run's) is better
    with open_store(tuned_home) as store:
        row = store.one("SELECT * FROM ratings WHERE source = 'app'")
    assert (row["prompt"], row["chosen"], row["rejected"], row["outcome"]) == (
        "Why is the sky blue?", answers[1], answers[0], "chosen")
    assert not any(b.isEnabled() for b in page.rate_buttons)  # once per pair
    page.studio.shutdown()


def test_stop_ends_the_answer_where_it_was(qtbot, tuned_home):
    page = open_page(qtbot, tuned_home)
    page.run.setCurrentText("(none: the base model alone)")
    page.max_tokens.setValue(450)
    ask(qtbot, page, "Tell me about thing 9.")
    cancelled = []
    page.job.cancelled.connect(lambda: cancelled.append(True))
    page.job.progress.connect(lambda e: e.stage == "answering" and page.stop())  # at its first words
    wait_idle(qtbot, page.studio)
    assert cancelled and page.status.text().startswith("Stopped.")
    assert page.views[0].toPlainText() and not page.views[1].toPlainText()
    assert not page.stop_button.isEnabled() and page.ask_button.isEnabled()
    assert not any(b.isEnabled() for b in page.rate_buttons) and not dialogs()
    page.studio.shutdown()


def test_the_question_joins_a_prompt_set_and_a_system_prompt_leaves_the_pair_unrated(qtbot, tuned_home):
    page = open_page(qtbot, tuned_home)
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    assert dialogs() and "Type a question first" in dialogs()[0].text()
    close_dialogs()
    page.question.setPlainText("What should I pack for a rainy week?")
    page.sets.setCurrentText("things")
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    assert page.status.text().startswith("Added to “things”")
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    assert page.status.text() == "“things” has this question already."
    page.sets.setEditText("mine")
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    with open_store(tuned_home) as store:
        assert [p["text"] for p in prompts_of(store, "mine")] == ["What should I pack for a rainy week?"]
        assert "What should I pack for a rainy week?" in [p["text"] for p in prompts_of(store, "things")]
    page.system.setText("Answer like a pirate.")
    ask(qtbot, page, "Why is the sky blue?")
    wait_idle(qtbot, page.studio)
    assert "not rated" in page.status.text() and not any(b.isEnabled() for b in page.rate_buttons)
    page.studio.shutdown()
