"""Renaming and deleting from the app's tables (models, prompt sets, reward models, runs on the
Train page, exports on the Export page), and a prompt set's prompts viewed, edited, moved and
deleted on the Prompts page: dialogs opened (never exec'd), what goes said before anything
does, refusals in a dialog with nothing lost."""

import pytest
from gui_helpers import close_dialogs, dialogs
from PySide6.QtWidgets import QApplication, QCheckBox, QInputDialog, QMessageBox, QPushButton

from core.store.database import now, open_store, to_json
from core.store.exports import record_export
from core.store.runs import run_lock
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


def removed_in_the_background(qtbot, *folders) -> None:
    """Gone under their names at once (set aside), and the set-aside copies soon after."""
    assert not any(f.exists() for f in folders)
    qtbot.waitUntil(lambda: not [p for f in folders for p in f.parent.glob(f".{f.name}.deleting-*")], timeout=10000)


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
    removed_in_the_background(qtbot, window.ws["owned_dir"], window.ws["checkpoints"][0].parent)
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


def test_a_run_is_listed_on_the_train_page_shown_when_chosen_and_renamed_with_its_checkpoints(qtbot, window):
    window.show_page("train")
    page = window.pages["train"]
    assert page.runs_box.isVisible() and names(page.runs_table) == ["first"]
    row = [page.runs_table.item(0, j).text() for j in range(1, 4)]
    assert row[1:] == ["2 of 2", "taste v2"]
    select(page.runs_table, "first")
    assert page.shown == "first" and "Run “first”" in page.phase.text()
    page.tidy.ask_rename()
    input_dialog("rename-dialog").setTextValue("two words")  # a run's name names its folder: refused
    input_dialog("rename-dialog").accept()
    assert "letters, digits" in dialogs()[0].text()
    close_dialogs()
    page.tidy.ask_rename()
    input_dialog("rename-dialog").setTextValue("second")
    input_dialog("rename-dialog").accept()
    assert names(page.runs_table) == ["second"] and page.runs_table.currentRow() == 0
    assert page.shown == "second" and "Run “second”" in page.phase.text()
    checkpoints = window.studio.home / "checkpoints"
    assert (checkpoints / "second" / "iter-0002").is_dir() and not (checkpoints / "first").exists()


def test_a_run_is_deleted_with_its_checkpoints_after_the_dialog_says_what_goes(qtbot, window):
    window.show_page("train")
    page = window.pages["train"]
    select(page.runs_table, "first")
    box = page.tidy.ask_delete()
    text = box.text()
    assert "2 checkpoint(s)" in text and "1 blind comparison(s)" in text and "the ratings you gave" in text
    assert "Kept: the exported folders: " + str(window.ws["export_dir"]) in text
    box.button(QMessageBox.Cancel).click()  # cancelled: all stays
    assert names(page.runs_table) == ["first"] and window.ws["checkpoints"][0].is_dir()
    box = page.tidy.ask_delete()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert page.runs_table.rowCount() == 0 and not page.runs_box.isVisible()
    assert not window.ws["checkpoints"][0].parent.exists() and window.ws["export_dir"].is_dir()
    removed_in_the_background(qtbot, window.ws["checkpoints"][0].parent)
    assert page.shown is None and page.phase.text() == "Not running."
    with open_store(window.studio.home) as store:
        assert store.count("runs") == store.count("exports") == store.count("comparisons") == 0
        assert store.count("ratings") == 1
    window.show_page("export")
    assert window.pages["export"].exports_table.rowCount() == 0  # its export's record went with it


def test_a_run_in_training_is_not_deleted_and_the_dialog_says_why(qtbot, window):
    window.show_page("train")
    page = window.pages["train"]
    select(page.runs_table, "first")
    with open_store(window.studio.home) as store, run_lock(store, "first"):  # as a training process holds it
        assert page.tidy.ask_delete() is None
    assert "training right now" in dialogs()[0].text() and not dialogs("confirm-delete")
    assert names(page.runs_table) == ["first"] and window.ws["checkpoints"][0].is_dir()


def test_an_export_is_forgotten_keeping_its_folder_unless_the_person_ticks_it_goes(qtbot, window, tmp_path):
    gguf_dir = tmp_path / "outside" / "gguf"
    (gguf_dir).mkdir()
    (gguf_dir / "first-q8_0.gguf").write_bytes(b"x" * 3000)
    with open_store(window.studio.home) as store:
        record_export(store, {"run_id": window.ws["run"], "model_id": None, "path": str(gguf_dir),
                              "settings": to_json({"format": "gguf", "quant": "q8_0"}), "created_at": now()})
    window.show_page("export")
    page = window.pages["export"]
    table = page.exports_table
    assert page.exports_box.isVisible()
    assert [[table.item(i, j).text() for j in (1, 2, 3)] for i in range(2)] == [
        ["first", "GGUF q8_0", str(gguf_dir)], ["first", "safetensors", str(window.ws["export_dir"])]]

    table.selectRow(1)  # the safetensors folder: by default only the record goes
    box = page.tidy.ask_delete()
    also = box.findChild(QCheckBox, "delete-export-files")
    assert not also.isChecked() and str(window.ws["export_dir"]) in also.text()
    assert "Kept: the exported folder" in box.text()
    box.button(QMessageBox.Cancel).click()
    assert table.rowCount() == 2
    box = page.tidy.ask_delete()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert table.rowCount() == 1 and window.ws["export_dir"].is_dir()

    table.selectRow(0)  # the GGUF: ticked, the folder goes too, and the dialog says so first
    box = page.tidy.ask_delete()
    also = box.findChild(QCheckBox, "delete-export-files")
    assert "2.9 KiB" in also.text()
    also.setChecked(True)
    assert "Also deleted: the exported folder " + str(gguf_dir) in box.text()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert table.rowCount() == 0 and not gguf_dir.exists() and not page.exports_box.isVisible()
    removed_in_the_background(qtbot, gguf_dir)
    with open_store(window.studio.home) as store:
        assert store.count("exports") == 0 and store.count("runs") == 1


def test_files_that_cannot_be_removed_are_said_after_the_rows_went(qtbot, window, monkeypatch):
    import desktop.pages.tidy as tidy

    monkeypatch.setattr(tidy, "remove_files", lambda paths: ([], [f"{paths[0]}: Permission denied"]))
    window.show_page("train")
    page = window.pages["train"]
    select(page.runs_table, "first")
    box = page.tidy.ask_delete()
    box.findChild(QPushButton, "confirm-delete-button").click()
    assert page.runs_table.rowCount() == 0  # the rows went at once, the window never waited for the files
    qtbot.waitUntil(lambda: bool(dialogs("error-dialog")), timeout=10000)
    text = dialogs("error-dialog")[0].text()
    assert "could not be removed" in text and "Permission denied" in text and "by hand" in text
    assert list(window.ws["checkpoints"][0].parent.parent.glob(".first.deleting-*"))  # left for the person
