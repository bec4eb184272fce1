"""Rate: two answers to the same prompt side by side, chosen by key; or one answer scored
1-5. Answers show as Markdown, with a mark on those cut off at the length limit; the team's
guidelines sit beside them; a line counts towards the next reward model worth training.
Besides a winner: a tie, "both bad", or a better answer written by the person. Each rating
is stored the moment it is given and can be undone, or changed later in the history; the
next pairs are prepared in the background (answers generated, the most informative pairs
chosen) so nobody waits."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout

from core.journey.answering import agreement, answer_pair, undo_pair
from core.journey.overview import overview
from core.journey.pair_queue import open_pairs
from core.store.generations import next_unscored
from core.store.models import count_models
from core.store.prompts import has_train_prompts
from core.store.ratings import add_ratings, delete_rating, last_score_id, score
from core.store.texts import GUIDELINES, get_text
from desktop.jobs import Job
from desktop.pages.base import Page, esc, show_markdown
from desktop.pages.rating_dialogs import GuidelinesDialog, HistoryDialog, WriteAnswerDialog, opened
from desktop.studio import guard, show_error

AHEAD = 3  # prepare more pairs when fewer than this many are waiting
BATCH = 8  # pairs prepared at a time
CUT = "✂ Cut off at the length limit: this answer did not finish."
NO_GUIDELINES = ("*No guidelines yet.* Write down what makes a good answer for you or your team "
                 "(what matters most, what to do when both are poor): they keep ratings consistent.")


class RatePage(Page):
    title = "3  Rate"
    purpose = ("Which answer is better? Your choices teach the reward model your taste. Keys: ← left is "
               "better, → right is better, T tie, B both bad, W write a better answer, S skip, Backspace undo. "
               "In score mode, 1-5 rate one answer.")

    def __init__(self, studio):
        super().__init__(studio)
        top = QHBoxLayout()
        self.status = QLabel(objectName="rate-status", wordWrap=True)
        self.goal = QLabel(objectName="rate-goal", wordWrap=True)
        self.score_mode = QCheckBox("Score single answers (1–5) instead", objectName="score-mode")
        self.score_mode.toggled.connect(self.refresh)
        history = QPushButton("History…", objectName="rating-history-button")
        history.clicked.connect(self.open_history)
        status = QVBoxLayout()
        status.addWidget(self.goal)
        status.addWidget(self.status)
        top.addLayout(status, 1)
        top.addWidget(self.score_mode)
        top.addWidget(history)
        self.layout_.addLayout(top)
        self.prompt = QLabel(objectName="rate-prompt", wordWrap=True)
        self.prompt.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.layout_.addWidget(self.prompt)
        grid = QGridLayout()
        self.left, self.right = QTextBrowser(objectName="answer-left"), QTextBrowser(objectName="answer-right")
        self.left_cut = QLabel(CUT, objectName="answer-left-cut", wordWrap=True)
        self.right_cut = QLabel(CUT, objectName="answer-right-cut", wordWrap=True)
        self.right_title = QLabel("<b>Right</b>")
        for column, (title, view, cut) in enumerate(((QLabel("<b>Left</b>"), self.left, self.left_cut),
                                                      (self.right_title, self.right, self.right_cut))):
            grid.addWidget(title, 0, column)
            grid.addWidget(view, 1, column)
            grid.addWidget(cut, 2, column)
            cut.setStyleSheet("color: #a15c00;")
        grid.addWidget(QLabel("<b>Guidelines</b>"), 0, 2)
        self.guidelines = QTextBrowser(objectName="rate-guidelines")
        grid.addWidget(self.guidelines, 1, 2)
        edit = QPushButton("Edit guidelines…", objectName="edit-guidelines")
        edit.clicked.connect(self.edit_guidelines)
        grid.addWidget(edit, 2, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        self.layout_.addLayout(grid, 1)
        self.buttons = QHBoxLayout()
        self.pair_buttons = []
        for text, choice, keys in (("← Left is better", "a", ("Left",)), ("Tie (T)", "tie", ("T",)),
                                   ("Both bad (B)", "both-bad", ("B",)), ("Skip (S)", "skip", ("S",)),
                                   ("Right is better →", "b", ("Right",))):
            button = QPushButton(text, objectName=f"choose-{choice}")
            button.clicked.connect(lambda _=False, c=choice: self.choose(c))
            self.buttons.addWidget(button)
            self.pair_buttons.append(button)
            for key in keys:
                self._shortcut(key, lambda c=choice: self.choose(c))
        self.write_button = QPushButton("Write a better answer… (W)", objectName="choose-write")
        self.write_button.clicked.connect(self.write_better)
        self._shortcut("W", self.write_better)
        self.buttons.addWidget(self.write_button)
        self.pair_buttons.append(self.write_button)
        self.score_buttons = []
        for n in range(1, 6):
            button = QPushButton(str(n), objectName=f"score-{n}")
            button.clicked.connect(lambda _=False, n=n: self.give_score(n))
            self.buttons.addWidget(button)
            self.score_buttons.append(button)
            self._shortcut(str(n), lambda n=n: self.give_score(n))
        self.undo_button = QPushButton("Undo (Backspace)", objectName="undo")
        self.undo_button.clicked.connect(self.undo)
        self.buttons.addWidget(self.undo_button)
        for key in ("Backspace", QKeySequence.Undo):
            self._shortcut(key, self.undo)
        self.layout_.addLayout(self.buttons)
        self.feedback = QLabel(objectName="rate-feedback", wordWrap=True)
        self.layout_.addWidget(self.feedback)
        self.current = None  # the open pair (dict) or the answer being scored
        self.answered: list[tuple[str, int]] = []  # ("pair", pair id) or ("score", rating id), for undo
        self.preparing: Job | None = None
        self.dialog = None  # the open dialog, if any

    def _shortcut(self, key, slot) -> None:
        shortcut = QShortcut(QKeySequence(key), self)
        shortcut.setContext(Qt.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.setFocus()

    # -- what is shown
    def refresh(self) -> None:
        scoring = self.score_mode.isChecked()
        for b in self.pair_buttons:
            b.setVisible(not scoring)
        for b in self.score_buttons:
            b.setVisible(scoring)
        for w in (self.right, self.right_title):
            w.setVisible(not scoring)
        with self.studio.store() as store:
            pairs = open_pairs(store)
            self.current = self._next_answer(store) if scoring else next(iter(pairs), None)
            self.goal.setText(overview(store)["goal"]["text"])
            show_markdown(self.guidelines, get_text(store, GUIDELINES) or NO_GUIDELINES)
        waiting = len(pairs)
        if self.current is None:
            self.prompt.setText("")
            self.left.setPlainText("")
            self.right.setPlainText("")
            self.left_cut.hide()
            self.right_cut.hide()
            self.status.setText("Preparing answers to rate…" if self._prepare() else self._why_nothing())
        else:
            self.prompt.setText(f"<b>Prompt:</b> {esc(self.current['prompt'])}")
            if scoring:
                show_markdown(self.left, self.current["completion"])
                self.left_cut.setVisible(not self.current["finished"])
                self.right_cut.hide()
            else:
                show_markdown(self.left, self.current["a"])
                show_markdown(self.right, self.current["b"])
                self.left_cut.setVisible(not self.current["a_finished"])
                self.right_cut.setVisible(not self.current["b_finished"])
            self.status.setText("Score this answer from 1 (bad) to 5 (excellent)." if scoring
                                else f"{waiting} pair{'s' if waiting != 1 else ''} ready.")
            if not scoring and waiting < AHEAD:
                self._prepare()
        for b in self.pair_buttons + self.score_buttons:
            b.setEnabled(self.current is not None)
        self.undo_button.setEnabled(bool(self.answered))

    def _why_nothing(self) -> str:
        with self.studio.store() as store:
            if not count_models(store):
                return "Choose a model first (page 1)."
            if not has_train_prompts(store):
                return "Add prompts first (page 2)."
        return "Nothing to rate right now."

    @staticmethod
    def _next_answer(store):
        return next_unscored(store)

    def _prepare(self) -> bool:
        """Start preparing the next pairs in the background, unless already under way or
        there is nothing to prepare them from."""
        if self.preparing is not None and self.preparing.running:
            return True
        with self.studio.store() as store:
            if not count_models(store) or not has_train_prompts(store):
                return False
        self.preparing = self.studio.run_command("Preparing pairs to rate", ["rate", "next", "--pairs", str(BATCH)],
                                                 background=True)
        self.preparing.progress.connect(
            lambda e: self.status.setText(f"Preparing answers to rate: {e.stage} {e.done} / {e.total}…")
            if self.current is None else None)
        self.preparing.failed.connect(lambda message, details: show_error(self, message, details))
        self.preparing.succeeded.connect(lambda _: self.refresh() if self.current is None else None)
        return True

    # -- answers
    def choose(self, choice: str, better: str | None = None) -> None:
        if self.current is None or self.score_mode.isChecked():
            return
        with self.studio.store() as store:  # one small transaction: stored at once
            result = guard(self, answer_pair, store, self.current["id"], choice, better)
            if result is None:
                return
            agree = agreement(store)
        self.answered.append(("pair", self.current["id"]))
        self.feedback.setText(self._feedback(result, agree))
        self.refresh()
        self.studio.changed.emit()

    @staticmethod
    def _feedback(result: dict, agree: dict) -> str:
        said = {"a": "left", "b": "right", "tie": "a tie", "skip": "skipped", "both-bad": "both bad",
                "write": "your answer, better than both"}[result["choice"]]
        text = f"Saved: {said}."
        if result["guess"] is not None and result["agreed"] is not None:
            side = "left" if result["guess"] > 0.5 else "right"
            sure = max(result["guess"], 1 - result["guess"])
            text += f" The reward model guessed {side} ({sure:.0%} sure)"
            text += ": it agreed." if result["agreed"] else ": it disagreed."
        if agree["agreement"] is not None:
            text += f" Agreement so far: {agree['agreement']:.0%} of {agree['answered']} comparisons."
        return text

    def write_better(self) -> None:
        if self.current is None or self.score_mode.isChecked():
            return
        shown = self.current
        self.dialog = opened(WriteAnswerDialog(self, shown))
        self.dialog.accepted.connect(lambda d=self.dialog: self._written(shown, d.text.toPlainText()))

    def _written(self, shown: dict, text: str) -> None:
        if self.current is not None and self.current["id"] == shown["id"]:
            self.choose("write", text)

    def edit_guidelines(self) -> None:
        self.dialog = opened(GuidelinesDialog(self, self.studio))
        self.dialog.saved.connect(lambda _: self.refresh())

    def open_history(self) -> None:
        self.dialog = opened(HistoryDialog(self, self.studio))
        self.dialog.changed.connect(self._history_changed)

    def _history_changed(self) -> None:
        self.answered.clear()  # undo follows the history's changes no further back
        self.refresh()
        self.studio.changed.emit()

    def give_score(self, n: int) -> None:
        if self.current is None or not self.score_mode.isChecked():
            return
        row = score(self.current["prompt"], self.current["completion"], n)
        with self.studio.store() as store:
            if guard(self, add_ratings, store, [row], source="app") is None:
                return
            rating = last_score_id(store, row["prompt"], row["completion"])
        self.answered.append(("score", rating))
        self.feedback.setText(f"Saved: {n} of 5.")
        self.refresh()
        self.studio.changed.emit()

    def undo(self) -> None:
        if not self.answered:
            return
        kind, key = self.answered.pop()
        with self.studio.store() as store:
            if kind == "pair":
                guard(self, undo_pair, store, key)
            else:
                delete_rating(store, key)
        self.feedback.setText("Undone: that rating is removed; rate it again.")
        self.refresh()
        self.studio.changed.emit()
