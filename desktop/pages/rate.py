"""Rate: two answers to the same prompt side by side, chosen by key; or one answer scored
1-5. Each rating is stored the moment it is given; the next pairs are prepared in the
background (answers generated, the most informative pairs chosen) so nobody waits."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QTextBrowser

from core.journey.answering import agreement, answer_pair, undo_pair
from core.journey.pair_queue import open_pairs
from core.store.generations import next_unscored
from core.store.models import count_models
from core.store.prompts import has_train_prompts
from core.store.ratings import add_ratings, delete_rating, last_score_id, score
from desktop.jobs import Job
from desktop.pages.base import Page, esc
from desktop.studio import guard, show_error

AHEAD = 3  # prepare more pairs when fewer than this many are waiting
BATCH = 8  # pairs prepared at a time


class RatePage(Page):
    title = "3  Rate"
    purpose = ("Which answer is better? Your choices teach the reward model your taste. "
               "Keys: ← left is better, → right is better, T tie, S skip, Backspace undo. "
               "In score mode, 1-5 rate one answer.")

    def __init__(self, studio):
        super().__init__(studio)
        top = QHBoxLayout()
        self.score_mode = QCheckBox("Score single answers (1–5) instead", objectName="score-mode")
        self.score_mode.toggled.connect(self.refresh)
        self.status = QLabel(objectName="rate-status", wordWrap=True)
        top.addWidget(self.status, 1)
        top.addWidget(self.score_mode)
        self.layout_.addLayout(top)
        self.prompt = QLabel(objectName="rate-prompt", wordWrap=True)
        self.prompt.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.layout_.addWidget(self.prompt)
        grid = QGridLayout()
        self.left = QTextBrowser(objectName="answer-left")
        self.right = QTextBrowser(objectName="answer-right")
        grid.addWidget(QLabel("<b>Left</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Right</b>"), 0, 1)
        grid.addWidget(self.left, 1, 0)
        grid.addWidget(self.right, 1, 1)
        self.layout_.addLayout(grid, 1)
        self.buttons = QHBoxLayout()
        self.pair_buttons = []
        for text, choice, keys in (("← Left is better", "a", ("Left",)), ("Tie (T)", "tie", ("T",)),
                                   ("Skip (S)", "skip", ("S",)), ("Right is better →", "b", ("Right",))):
            button = QPushButton(text, objectName=f"choose-{choice}")
            button.clicked.connect(lambda _=False, c=choice: self.choose(c))
            self.buttons.addWidget(button)
            self.pair_buttons.append(button)
            for key in keys:
                self._shortcut(key, lambda c=choice: self.choose(c))
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
        self.right.setVisible(not scoring)
        with self.studio.store() as store:
            pairs = open_pairs(store)
            self.current = self._next_answer(store) if scoring else next(iter(pairs), None)
        waiting = len(pairs)
        if self.current is None:
            self.prompt.setText("")
            self.left.setPlainText("")
            self.right.setPlainText("")
            self.status.setText("Preparing answers to rate…" if self._prepare() else self._why_nothing())
        else:
            self.prompt.setText(f"<b>Prompt:</b> {esc(self.current['prompt'])}")
            if scoring:
                self.left.setPlainText(self.current["completion"])
            else:
                self.left.setPlainText(self.current["a"])
                self.right.setPlainText(self.current["b"])
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
        self.preparing = self.studio.run_command("Preparing pairs to rate", ["rate", "next", "--n", str(BATCH)],
                                                 background=True)
        self.preparing.progress.connect(
            lambda e: self.status.setText(f"Preparing answers to rate: {e.stage} {e.done} / {e.total}…")
            if self.current is None else None)
        self.preparing.failed.connect(lambda message, details: show_error(self, message, details))
        self.preparing.succeeded.connect(lambda _: self.refresh() if self.current is None else None)
        return True

    # -- answers
    def choose(self, choice: str) -> None:
        if self.current is None or self.score_mode.isChecked():
            return
        with self.studio.store() as store:  # one small transaction: stored at once
            result = guard(self, answer_pair, store, self.current["id"], choice)
            if result is None:
                return
            agree = agreement(store)
        self.answered.append(("pair", self.current["id"]))
        self.feedback.setText(self._feedback(result, agree))
        self.refresh()
        self.studio.changed.emit()

    @staticmethod
    def _feedback(result: dict, agree: dict) -> str:
        said = {"a": "left", "b": "right", "tie": "a tie", "skip": "skipped"}[result["choice"]]
        text = f"Saved: {said}."
        if result["guess"] is not None:
            side = "left" if result["guess"] > 0.5 else "right"
            sure = max(result["guess"], 1 - result["guess"])
            text += f" The reward model guessed {side} ({sure:.0%} sure)"
            text += {True: ": it agreed.", False: ": it disagreed.", None: "."}[result["agreed"]]
        if agree["agreement"] is not None:
            text += f" Agreement so far: {agree['agreement']:.0%} of {agree['answered']} comparisons."
        return text

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
