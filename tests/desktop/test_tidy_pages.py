"""Renaming and deleting from the app's tables, and a prompt set's prompts viewed, edited,
moved and deleted on the Prompts page: dialogs opened (never exec'd), what goes said before
anything does, refusals in a dialog with nothing lost."""

import pytest
from gui_helpers import close_dialogs, dialogs
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QPushButton

from core.store.database import open_store
from tidy_workspace import seed


@pytest.fixture
def window(qtbot, home, tmp_path):
    from desktop.window import MainWindow

    with open_store(home) as store:
        ws = seed(store, tmp_path / "outside")
    window = MainWindow(home)
    qtbot.addWidget(window)
    window.show()
    window.ws = ws
    yield window
    close_dialogs()
    window.studio.shutdown(20000)


def input_dialog(name: str) -> QInputDialog:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, QInputDialog) and w.objectName() == name
             and w.isVisible()]
    assert len(found) == 1
    return found[0]


def select(table, text: str) -> None:
    row = next(i for i in range(table.rowCount()) if table.item(i, 0).text() == text)
    table.setCurrentCell(row, 0)


def names(table) -> list[str]:
    return [table.item(i, 0).text() for i in range(table.rowCount())]


def test_a_model_is_renamed_then_deleted_after_the_dialog_says_what_goes(qtbot, window):
    window.show_page("model")
    page = window.pages["model"]
    select(page.table, "owned")
    page.tidy.ask_rename()
    dialog = input_dialog("rename-dialog")
    dialog.setTextValue("mine")  # taken: refused in plain words, nothing changed
    dialog.accept()
    assert "exists already" in dialogs()[0].text()
    close_dialogs()
    assert names(page.table) == ["owned", "mine"]
    select(page.table, "owned")
    page.tidy.ask_rename()
    input_dialog("rename-dialog").setTextValue("base")
    input_dialog("rename-dialog").accept()
    assert names(page.table) == ["base", "mine"]

    select(page.table, "base")
    box = page.tidy.ask_delete()
    assert "'first'" in box.text() and "every rating you gave" in box.text()
    box.button(QMessageBox.Cancel).click()  # cancelled: all stays
    assert names(page.table) == ["base", "mine"] and window.ws["owned_dir"].is_dir()
    box = page.tidy.ask_delete()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert names(page.table) == ["mine"] and not window.ws["owned_dir"].exists()
    with open_store(window.studio.home) as store:
        assert store.count("runs") == 0 and store.count("ratings") == 1


def test_a_refused_delete_is_a_dialog_and_nothing_goes(qtbot, window):
    window.show_page("model")
    page = window.pages["model"]
    select(page.table, "mine")
    assert page.tidy.ask_delete() is None
    assert "superhf reward delete taste" in dialogs()[0].text()
    assert names(page.table) == ["owned", "mine"] and window.ws["mine_dir"].is_dir()


def test_a_prompt_sets_prompts_are_edited_moved_and_deleted(qtbot, window):
    window.show_page("prompts")
    page = window.pages["prompts"]
    select(page.table, "set")
    view = page.view
    assert names(view.table) == ["Say hi.", "Say bye.", "Judge me."]
    view.table.selectRow(0)
    view.ask_edit()
    input_dialog("edit-prompt-dialog").setTextValue("Say hello.")
    input_dialog("edit-prompt-dialog").accept()
    assert names(view.table)[0] == "Say hello."
    view.table.selectRow(0)
    view.move("eval")
    assert view.table.item(0, 1).text() == "evaluation"
    assert page.table.item(0, 2).text() == "2"  # the set's counts follow
    view.table.selectRow(1)
    box = view.ask_delete()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert names(view.table) == ["Say hello.", "Judge me."]
    view.table.clearSelection()
    view.move("train")
    assert "Choose one or more prompts" in dialogs()[0].text()


def test_a_prompt_set_used_by_a_run_is_not_deleted_and_can_be_renamed(qtbot, window):
    window.show_page("prompts")
    page = window.pages["prompts"]
    select(page.table, "set")
    assert page.tidy.ask_delete() is None
    assert "superhf runs delete first" in dialogs()[0].text()
    close_dialogs()
    page.tidy.ask_rename()
    input_dialog("rename-dialog").setTextValue("support")
    input_dialog("rename-dialog").accept()
    assert names(page.table) == ["support"]


def test_a_reward_model_is_deleted_with_every_version_and_the_run_kept(qtbot, window):
    window.show_page("reward")
    page = window.pages["reward"]
    select(page.table, "taste")
    box = page.tidy.ask_delete()
    assert "2 version(s)" in box.text() and "not resumed" in box.text()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert page.table.rowCount() == 0
    with open_store(window.studio.home) as store:
        assert store.count("reward_models") == 0 and store.count("runs") == 1
