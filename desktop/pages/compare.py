"""Compare: the tuned model against the one it started from, blind, on evaluation prompts.
Your choices give a win rate with its uncertainty and are stored as ratings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QTextBrowser

from core.journey.compare import answer_comparison, open_comparisons, undo_comparison, win_rate, win_verdict
from core.store.runs import checkpointed_runs
from desktop.pages.base import Page, esc, show_markdown
from desktop.studio import guard


class ComparePage(Page):
    title = "6  Compare"
    purpose = ("Is the tuned model better? One answer from each model, sides shuffled so you cannot tell which "
               "is which. Keys: ← left is better, → right is better, T tie, S skip, Backspace undo.")

    def __init__(self, studio):
        super().__init__(studio)
        row = QHBoxLayout()
        self.runs = QComboBox(objectName="compare-run")
        self.runs.currentIndexChanged.connect(lambda _: self.show_next())
        self.prepare_button = QPushButton("Prepare answers to compare", objectName="prepare-compare")
        self.prepare_button.clicked.connect(self.prepare)
        row.addWidget(QLabel("Run:"))
        row.addWidget(self.runs)
        row.addWidget(self.prepare_button)
        row.addStretch()
        self.layout_.addLayout(row)
        self.result = QLabel(objectName="win-rate", wordWrap=True)
        self.layout_.addWidget(self.result)
        self.prompt = QLabel(objectName="compare-prompt", wordWrap=True)
        self.layout_.addWidget(self.prompt)
        grid = QGridLayout()
        self.left, self.right = QTextBrowser(objectName="compare-left"), QTextBrowser(objectName="compare-right")
        grid.addWidget(QLabel("<b>Left</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Right</b>"), 0, 1)
        grid.addWidget(self.left, 1, 0)
        grid.addWidget(self.right, 1, 1)
        self.layout_.addLayout(grid, 1)
        buttons = QHBoxLayout()
        self.choice_buttons = []
        for text, choice, key in (("← Left is better", "left", "Left"), ("Tie (T)", "tie", "T"),
                                  ("Skip (S)", "skip", "S"), ("Right is better →", "right", "Right")):
            button = QPushButton(text, objectName=f"compare-{choice}")
            button.clicked.connect(lambda _=False, c=choice: self.choose(c))
            buttons.addWidget(button)
            self.choice_buttons.append(button)
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda c=choice: self.choose(c))
        self.undo_button = QPushButton("Undo (Backspace)", objectName="compare-undo")
        self.undo_button.clicked.connect(self.undo)
        buttons.addWidget(self.undo_button)
        shortcut = QShortcut(QKeySequence("Backspace"), self)
        shortcut.setContext(Qt.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.undo)
        self.layout_.addLayout(buttons)
        self.current = None
        self.answered: list[int] = []
        self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.setFocus()

    def refresh(self) -> None:
        with self.studio.store() as store:
            runs = checkpointed_runs(store)
        keep = self.runs.currentText()
        self.runs.blockSignals(True)
        self.runs.clear()
        self.runs.addItems(runs)
        if keep in runs:
            self.runs.setCurrentText(keep)
        self.runs.blockSignals(False)
        self.prepare_button.setEnabled(bool(runs))
        self.show_next()

    def show_next(self) -> None:
        run = self.runs.currentText()
        self.current = None
        if run:
            with self.studio.store() as store:
                self.current = next(iter(open_comparisons(store, run)), None)
                rate = win_rate(store, run)
            self.result.setText(self._rate_text(rate))
        else:
            self.result.setText("Train a model first (page 5): there is nothing to compare yet.")
        if self.current is None:
            self.prompt.setText("Press “Prepare answers to compare” for a fresh set." if run else "")
            self.left.setPlainText("")
            self.right.setPlainText("")
        else:
            self.prompt.setText(f"<b>Prompt:</b> {esc(self.current['prompt'])}")
            show_markdown(self.left, self.current["left"])
            show_markdown(self.right, self.current["right"])
        for b in self.choice_buttons:
            b.setEnabled(self.current is not None)
        self.undo_button.setEnabled(bool(self.answered))

    @staticmethod
    def _rate_text(rate: dict) -> str:
        return win_verdict(rate)

    def prepare(self) -> None:
        run = self.runs.currentText()
        if run:
            self.command(f"Answering evaluation prompts for {run}", ["compare", "prepare", run],
                         lambda _: self.show_next())

    def choose(self, choice: str) -> None:
        if self.current is None:
            return
        with self.studio.store() as store:
            if guard(self, answer_comparison, store, self.current["id"], choice) is None:
                return
        self.answered.append(self.current["id"])
        self.show_next()
        self.studio.changed.emit()

    def undo(self) -> None:
        if self.answered:
            with self.studio.store() as store:
                guard(self, undo_comparison, store, self.answered.pop())
            self.show_next()
            self.studio.changed.emit()
