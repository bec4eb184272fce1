"""The prompts of one set, on the Prompts page: each with its split, to edit, delete, or move
between training and evaluation. Several rows can be selected for delete and move."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QInputDialog, QMessageBox, QVBoxLayout

from core.store.prompt_edits import delete_prompts, edit_prompt, move_prompts
from core.store.prompts import prompts_of
from desktop.pages.base import fill_table, read_only_table
from desktop.studio import guard, show_error

SPLIT_WORDS = {"train": "training", "eval": "evaluation"}


class PromptSetView(QGroupBox):
    def __init__(self, page):
        super().__init__("Prompts of the selected set")
        self.page, self.set_name, self.rows = page, None, []
        box = QVBoxLayout(self)
        self.table = read_only_table("set-prompts", ["Prompt", "Used for"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        box.addWidget(self.table)
        self.buttons = page.button_row([("Edit…", "edit-prompt", self.ask_edit),
                                        ("Delete…", "delete-prompts", self.ask_delete),
                                        ("Move to training", "move-to-train", lambda: self.move("train")),
                                        ("Move to evaluation", "move-to-eval", lambda: self.move("eval"))], box)

    def show_set(self, set_name) -> None:
        self.set_name = set_name
        self.setTitle(f"Prompts of set '{set_name}'" if set_name else "Prompts of the selected set")
        with self.page.studio.store() as store:
            self.rows = guard(self.page, prompts_of, store, set_name) or [] if set_name else []
        fill_table(self.table, [(r["text"], SPLIT_WORDS[r["split"]]) for r in self.rows])
        for i, r in enumerate(self.rows):
            self.table.item(i, 0).setData(Qt.UserRole, r["id"])

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows:
            show_error(self.page, "Choose one or more prompts in the list first.")
        return [self.rows[r]["id"] for r in rows]

    def _done(self, result) -> None:
        if result is not None:
            self.page.studio.changed.emit()  # the page refreshes, and this view with it

    def ask_edit(self) -> QInputDialog | None:
        ids = self.selected_ids()
        if not ids:
            return None
        prompt = next(r for r in self.rows if r["id"] == ids[0])
        dialog = QInputDialog(self, objectName="edit-prompt-dialog")
        dialog.setOption(QInputDialog.UsePlainTextEditForTextInput)
        dialog.setWindowTitle("Edit prompt")
        dialog.setLabelText("The prompt's new text:")
        dialog.setTextValue(prompt["text"])
        dialog.textValueSelected.connect(lambda text: self.edit(prompt["id"], text))
        dialog.open()
        return dialog

    def edit(self, prompt_id: int, text: str) -> None:
        with self.page.studio.store() as store:
            self._done(guard(self.page, edit_prompt, store, self.set_name, prompt_id, text))

    def ask_delete(self) -> QMessageBox | None:
        ids = self.selected_ids()
        if not ids:
            return None
        text = (f"Delete {len(ids)} prompt(s) of set '{self.set_name}'?\nKept: every rating of answers to them, "
                "and the answers already written.")
        box = QMessageBox(QMessageBox.Question, "SuperHF Studio", text, QMessageBox.Cancel, self)
        box.setObjectName("confirm-delete")
        go = box.addButton("Delete", QMessageBox.DestructiveRole)
        go.setObjectName("confirm-delete-button")
        box.setDefaultButton(QMessageBox.Cancel)
        box.buttonClicked.connect(lambda button: button is go and self.delete(ids))
        box.open()
        return box

    def delete(self, ids: list[int]) -> None:
        with self.page.studio.store() as store:
            self._done(guard(self.page, delete_prompts, store, self.set_name, ids))

    def move(self, split: str) -> None:
        ids = self.selected_ids()
        if ids:
            with self.page.studio.store() as store:
                self._done(guard(self.page, move_prompts, store, self.set_name, ids, split))
