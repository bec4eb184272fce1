"""The guided Rate page, through its widgets: answers as Markdown with a mark on those cut
off, the guidelines beside them (edited in a dialog), the progress line, "both bad", a
written better answer, undo, the history of ratings (filter, change, delete), and Home's
verdict in words."""

import pytest
from gui_helpers import dialogs
from PySide6.QtCore import Qt

from core.journey.overview import overview
from core.store.database import open_store
from core.store.generations import add_generations
from core.store.rating_history import list_ratings

ANSWERS = (("**Tea** is a drink:\n\n- green\n- black", 1), ("Tea tea tea tea tea", 0),
           ("A hot <b>drink</b> made from leaves", 0))


@pytest.fixture
def ready_window(qtbot, ready_home):
    from desktop.window import MainWindow

    window = MainWindow(ready_home)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.studio.shutdown(20000)


def seed_pairs(home) -> None:
    """Answers to one prompt stored in the workspace, so the page has pairs without a model."""
    from core.journey.pair_queue import candidate_pairs, queue_pairs

    with open_store(home) as store:
        model = store.one("SELECT id FROM models")["id"]
        add_generations(store, [{"model_id": model, "prompt": "What is tea?", "completion": text, "finished": ended,
                                 "new_tokens": 5, "settings": "{}", "created_at": "2026-12-01T00:00:00+00:00"}
                                for text, ended in ANSWERS])
        pool = candidate_pairs(store, ["What is tea?"])
        ended = {text for text, finished in ANSWERS if finished}
        pool.sort(key=lambda c: -((c.a in ended) + (c.b in ended)))  # the pair with the answer that ended first
        queue_pairs(store, [(c, None) for c in pool], None)


def rate_page(qtbot, ready_window):
    seed_pairs(ready_window.studio.home)
    ready_window.show_page("rate")
    page = ready_window.pages["rate"]
    page.refresh()
    assert page.current is not None
    return page


def test_answers_show_as_markdown_with_cut_off_marks_guidelines_and_progress(qtbot, ready_window):
    page = rate_page(qtbot, ready_window)
    first = page.current
    assert (first["a_finished"], first["b_finished"]) == (1, 0)
    assert "Tea is a drink" in page.left.toPlainText() and "**" not in page.left.toPlainText()  # rendered
    assert page.left_cut.isHidden() and not page.right_cut.isHidden()
    assert "No guidelines yet" in page.guidelines.toPlainText()
    with open_store(ready_window.studio.home) as store:
        assert page.goal.text() == overview(store)["goal"]["text"] and page.goal.text().startswith("0 of ")

    page.edit_guidelines()
    dialog = page.dialog
    dialog.text.setPlainText("Prefer **short** answers that finish.")
    dialog.save()
    assert not dialog.isVisible() and "Prefer short answers" in page.guidelines.toPlainText()


def test_both_bad_and_a_written_answer_are_stored_and_undone(qtbot, ready_window):
    page = rate_page(qtbot, ready_window)
    shown = page.current
    qtbot.keyClick(page, Qt.Key_B)
    assert "both bad" in page.feedback.text() and page.current["id"] != shown["id"]
    with open_store(ready_window.studio.home) as store:
        assert {r["completion"] for r in list_ratings(store, kind="score")} == {shown["a"], shown["b"]}

    second = page.current
    page.write_better()
    page.dialog.text.setPlainText("   ")
    page.dialog.accept()  # empty: refused with a dialog, nothing stored, the pair stays
    assert dialogs() and page.current["id"] == second["id"]
    dialogs()[0].done(0)
    page.write_better()
    page.dialog.text.setPlainText("Tea is an infusion of dried leaves.")
    page.dialog.accept()
    assert "your answer" in page.feedback.text()
    with open_store(ready_window.studio.home) as store:
        written = [r for r in list_ratings(store, kind="pair") if r["source"] == "written"]
    assert {r["b"] for r in written} == {second["a"], second["b"]}

    qtbot.keyClick(page, Qt.Key_Backspace)  # the written answer's two ratings go together
    with open_store(ready_window.studio.home) as store:
        assert not [r for r in list_ratings(store) if r["source"] == "written"]
    assert page.current["id"] == second["id"]


def test_the_history_filters_changes_and_deletes_and_home_speaks_plainly(qtbot, ready_window):
    page = rate_page(qtbot, ready_window)
    qtbot.keyClick(page, Qt.Key_Left)
    page.open_history()
    history = page.dialog
    history.words.setText("tea")
    assert history.table.rowCount() == 1 and history.table.item(0, 4).text() == "first is better"
    history.table.selectRow(0)
    chosen_before = history.rows[0]["a"]
    history.change("b")
    assert history.table.item(0, 4).text() == "first is better" and history.rows[0]["a"] != chosen_before
    history.kind.setCurrentIndex(2)  # scores only
    assert history.table.rowCount() == 0
    history.kind.setCurrentIndex(0)
    history.words.setText("tea")
    history.table.selectRow(0)
    history.delete()
    assert history.table.rowCount() == 0 and "0 ratings shown" in history.count.text()
    with open_store(ready_window.studio.home) as store:
        assert not list_ratings(store, "tea")

    home = ready_window.pages["home"].state.text()
    with open_store(ready_window.studio.home) as store:
        reward = overview(store)["reward_model"]
    assert "with a winner or a 1–5 score" in home and reward["verdict"] in home
    assert "held-out" not in home  # the verdict in words, not a bare accuracy


def test_a_score_from_1_to_5_is_stored(qtbot, ready_window):
    page = rate_page(qtbot, ready_window)
    page.score_mode.setChecked(True)
    assert page.current is not None
    answer = page.current["completion"]
    page.give_score(4)
    with open_store(ready_window.studio.home) as store:
        row = store.one("SELECT * FROM ratings WHERE source = 'app' AND kind = 'score'")
    assert (row["completion"], row["score"]) == (answer, 4) and page.feedback.text() == "Saved: 4 of 5."
