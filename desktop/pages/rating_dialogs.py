"""The Rate page's dialogs: write a better answer, edit the rating guidelines, and the
history of ratings (filter, change, delete). Each opens without blocking the window
(``open()``, not ``exec()``) and stores what it is given the moment it is accepted."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
)

from core.store.rating_history import change_rating, list_ratings, remove_rating, said
from core.store.texts import GUIDELINES, get_text, save_guidelines
from desktop.pages.base import esc, fill_table, read_only_table, show_markdown
from desktop.studio import guard

SHOWN = 200  # the newest ratings the history lists; the filter finds older ones


class WriteAnswerDialog(QDialog):
    """The prompt, the two answers shown, and a box for the better answer the person writes."""

    def __init__(self, parent, pair: dict):
        super().__init__(parent, objectName="write-answer")
        self.setWindowTitle("Write a better answer")
        self.resize(760, 560)
        layout = QVBoxLayout(self)
        prompt = QLabel(f"<b>Prompt:</b> {esc(pair['prompt'])}", wordWrap=True)
        layout.addWidget(prompt)
        shown = QTextBrowser()
        show_markdown(shown, f"**Left:** {pair['a']}\n\n**Right:** {pair['b']}")
        shown.setMaximumHeight(160)
        layout.addWidget(shown)
        layout.addWidget(QLabel("Your answer, as you would want the model to write it. It is stored as better "
                                "than both answers shown.", wordWrap=True))
        self.text = QPlainTextEdit(objectName="written-answer")
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class GuidelinesDialog(QDialog):
    """The workspace's rating guidelines, as Markdown text."""

    saved = Signal(str)

    def __init__(self, parent, studio):
        super().__init__(parent, objectName="guidelines-dialog")
        self.studio = studio
        self.setWindowTitle("Rating guidelines")
        self.resize(640, 480)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("What makes a good answer for you or your team: shown beside every pair, so that "
                                "ratings stay consistent. Markdown works (**bold**, lists).", wordWrap=True))
        self.text = QPlainTextEdit(objectName="guidelines-text")
        with studio.store() as store:
            self.text.setPlainText(get_text(store, GUIDELINES))
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def save(self) -> None:
        with self.studio.store() as store:
            stored = guard(self, save_guidelines, store, self.text.toPlainText())
        if stored is not None:  # refused: the dialog stays open with the text
            self.saved.emit(stored)
            self.accept()


class HistoryDialog(QDialog):
    """Past ratings, newest first: filter by words or kind; change or delete the selected one."""

    changed = Signal()

    def __init__(self, parent, studio):
        super().__init__(parent, objectName="rating-history")
        self.studio = studio
        self.setWindowTitle("Rating history")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.words = QLineEdit(objectName="history-filter", placeholderText="Words in the prompt or an answer")
        self.words.textChanged.connect(self.refresh)
        self.kind = QComboBox(objectName="history-kind")
        for label, value in (("All ratings", None), ("Pairs", "pair"), ("1–5 scores", "score")):
            self.kind.addItem(label, value)
        self.kind.currentIndexChanged.connect(self.refresh)
        top.addWidget(self.words, 1)
        top.addWidget(self.kind)
        layout.addLayout(top)
        self.table = read_only_table("history-table", ["When", "Prompt", "First answer", "Second answer", "Said"])
        self.table.setSelectionBehavior(self.table.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(self.table.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._selected)
        layout.addWidget(self.table, 1)
        self.detail = QTextBrowser(objectName="history-detail")
        self.detail.setMaximumHeight(150)
        layout.addWidget(self.detail)
        actions = QHBoxLayout()
        self.pair_actions = []
        for text, to in (("First is better", "a"), ("Second is better", "b"), ("Tie", "tie"), ("Skip", "skip")):
            button = QPushButton(text, objectName=f"history-{to}")
            button.clicked.connect(lambda _=False, t=to: self.change(t))
            actions.addWidget(button)
            self.pair_actions.append(button)
        self.score_actions = []
        for n in range(1, 6):
            button = QPushButton(str(n), objectName=f"history-score-{n}")
            button.clicked.connect(lambda _=False, n=n: self.change(n))
            actions.addWidget(button)
            self.score_actions.append(button)
        actions.addStretch()
        self.delete_button = QPushButton("Delete", objectName="history-delete")
        self.delete_button.clicked.connect(self.delete)
        actions.addWidget(self.delete_button)
        layout.addLayout(actions)
        self.count = QLabel(objectName="history-count")
        layout.addWidget(self.count)
        self.rows: list[dict] = []
        self.refresh()

    def refresh(self) -> None:
        keep = self.selected()
        with self.studio.store() as store:
            self.rows = guard(self, list_ratings, store, self.words.text(), self.kind.currentData(), SHOWN) or []
        fill_table(self.table, [(r["created_at"][:16].replace("T", " "), r["prompt"],
                                 r["completion"] if r["kind"] == "score" else r["a"],
                                 "" if r["kind"] == "score" else r["b"], said(r)) for r in self.rows])
        self.count.setText(f"{len(self.rows)} rating{'s' if len(self.rows) != 1 else ''} shown"
                           + (f" (the newest {SHOWN}: type words to find older ones)" if len(self.rows) == SHOWN else "."))
        ids = [r["id"] for r in self.rows]
        if keep is not None and keep["id"] in ids:
            self.table.selectRow(ids.index(keep["id"]))
        self._selected()

    def selected(self):
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def _selected(self) -> None:
        row = self.selected()
        for b in self.pair_actions:
            b.setVisible(row is None or row["kind"] == "pair")
            b.setEnabled(row is not None)
        for b in self.score_actions:
            b.setVisible(row is not None and row["kind"] == "score")
        self.delete_button.setEnabled(row is not None)
        if row is None:
            self.detail.setPlainText("Select a rating to see it whole, change it or delete it.")
        elif row["kind"] == "score":
            show_markdown(self.detail, f"**Prompt:** {row['prompt']}\n\n**Answer:** {row['completion']}\n\n"
                                       f"*{said(row)}*")
        else:
            show_markdown(self.detail, f"**Prompt:** {row['prompt']}\n\n**First:** {row['a']}\n\n"
                                       f"**Second:** {row['b']}\n\n*{said(row)}*")

    def change(self, to) -> None:
        row = self.selected()
        if row is None:
            return
        with self.studio.store() as store:
            if guard(self, change_rating, store, row["id"], to) is None:
                return
        self.refresh()
        self.changed.emit()

    def delete(self) -> None:
        row = self.selected()
        if row is None:
            return
        with self.studio.store() as store:
            guard(self, remove_rating, store, row["id"])
        self.refresh()
        self.changed.emit()


def opened(dialog: QDialog) -> QDialog:
    dialog.setWindowModality(Qt.WindowModal)
    dialog.open()
    return dialog
