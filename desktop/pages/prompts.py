"""Prompts: the sets of prompts the model learns on (train) and is judged on (eval); a set's
prompts shown to edit, delete or move between the two; sets renamed and deleted."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from core.store.prompts import add_prompts, import_prompts, list_sets, parse_typed
from core.resources import starter_prompts_file
from desktop.pages.base import Page, fill_table, read_only_table
from desktop.pages.prompt_set_view import PromptSetView
from desktop.pages.tidy import TableTidy
from desktop.studio import guard


class PromptsPage(Page):
    title = "2  Prompts"
    purpose = ("The questions and tasks your model should handle well. About one prompt in ten is kept "
               "aside for evaluation (once a set has 10 or more), so you can see whether tuning helps on prompts "
               "it never trained on.")

    def __init__(self, studio):
        super().__init__(studio)
        self.button_row([("Use the starter prompts", "starter-prompts", self.use_starter),
                         ("Import a file…", "import-prompts", self.import_file)])
        self.table = read_only_table("prompt-sets", ["Set", "Training", "Evaluation"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.layout_.addWidget(self.table, 1)
        self.tidy = TableTidy(self, self.table, "prompts")
        self.button_row([("Rename…", "rename-set", self.tidy.ask_rename),
                         ("Delete…", "delete-set", self.tidy.ask_delete)])
        self.view = PromptSetView(self)
        self.layout_.addWidget(self.view, 2)
        self.table.itemSelectionChanged.connect(self._show_selected)
        typed = QGroupBox("Type or paste prompts, one per line")
        box = QVBoxLayout(typed)
        self.typed = QPlainTextEdit(objectName="typed-prompts")
        self.typed.setPlaceholderText("How do I reset my password?\nWrite a polite reply to a late delivery complaint.")
        row = QHBoxLayout()
        self.set_name = QLineEdit("my prompts", objectName="set-name")
        self.set_name.setToolTip("Prompts are kept in named sets; typing an existing set's name adds to it.")
        self.add_button = QPushButton("Add to set", objectName="add-prompts")
        self.add_button.clicked.connect(self.add_typed)
        name_label = QLabel("Set name:", objectName="set-name-label")
        name_label.setBuddy(self.set_name)
        row.addWidget(name_label)
        row.addWidget(self.set_name)
        row.addWidget(self.add_button)
        box.addWidget(self.typed)
        box.addLayout(row)
        self.layout_.addWidget(typed, 1)
        self.refresh()

    def refresh(self) -> None:
        with self.studio.store() as store:
            rows = list_sets(store)
        names = [r["name"] for r in rows]
        shown = self.view.set_name if self.view.set_name in names else next(iter(names), None)  # else the first set
        fill_table(self.table, [(r["name"], r["train"] or 0, r["eval"] or 0) for r in rows])
        if shown in names:
            self.table.selectRow(names.index(shown))
        self.view.show_set(shown if shown in names else None)

    def _show_selected(self) -> None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        if item is not None and item.text() != self.view.set_name:
            self.view.show_set(item.text())

    def _import(self, path: Path, set_name=None):
        return self.start(f"Importing prompts from {Path(path).name}",  # a file may be large: off the GUI thread
                          lambda store, on_progress, cancel: import_prompts(store, path, set_name=set_name))

    def use_starter(self) -> None:
        self._import(starter_prompts_file(), "starter")

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import prompts", "", "Prompt files (*.jsonl *.csv *.txt)")
        if path:
            self._import(Path(path))

    def add_typed(self) -> None:
        with self.studio.store() as store:
            result = guard(self, add_prompts, store, parse_typed(self.typed.toPlainText()), self.set_name.text())
        if result is not None:
            self.typed.clear()
            self.studio.changed.emit()
