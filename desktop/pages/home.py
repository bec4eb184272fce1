"""Home: what the workspace holds and the next sensible step, one click away."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton

from core.journey.overview import overview
from desktop.pages.base import Page, esc


class HomePage(Page):
    title = "SuperHF Studio"
    purpose = ("Teach a language model your judgement, on this computer: rate its answers, let a reward "
               "model learn from your ratings, and tune the model with SuperHF. Nothing leaves this machine.")

    def __init__(self, studio):
        super().__init__(studio)
        self.next_box = QGroupBox("Next step")
        grid = QGridLayout(self.next_box)
        self.next_text = QLabel(objectName="next-step", wordWrap=True)
        self.next_button = QPushButton("Go there", objectName="next-go")
        self.next_button.setFixedWidth(140)
        self.next_button.clicked.connect(lambda: self.studio.navigate.emit(self._next_page))
        grid.addWidget(self.next_text, 0, 0)
        grid.addWidget(self.next_button, 0, 1)
        grid.setColumnStretch(0, 1)
        self.layout_.addWidget(self.next_box)
        self.state_box = QGroupBox("This workspace")
        self.state = QLabel(objectName="workspace-state", wordWrap=True)
        QGridLayout(self.state_box).addWidget(self.state)
        self.layout_.addWidget(self.state_box)
        self.layout_.addStretch()
        self._next_page = "model"
        self.refresh()

    def refresh(self) -> None:
        with self.studio.store() as store:
            s = overview(store)
        self._next_page = s["next"]["page"]
        self.next_text.setText(s["next"]["text"])
        reward = s["reward_model"]
        if reward is None:
            reward_line = "none yet"
        else:  # the verdict in words ("agrees with you on 31 of 40 … about 70–85%"), then what to do
            reward_line = (f"{esc(reward['name'])} v{reward['version']}: {esc(reward['verdict'])}"
                           + ("" if reward["better_than_chance"] else f"<br>{esc(reward['advice'])}"))
        runs = ", ".join(f"{esc(r['name'])} ({r['status']}, {r['done']}/{r['iterations']} iterations)"
                         for r in s["runs"][:3]) or "none yet"
        models = ", ".join(esc(m["name"]) for m in s["models"]) or "none yet"
        self.state.setText(
            f"<table cellpadding='3'>"
            f"<tr><td><b>Workspace</b></td><td>{esc(self.studio.home)}</td></tr>"
            f"<tr><td><b>Models</b></td><td>{models}</td></tr>"
            f"<tr><td><b>Prompts</b></td><td>{s['train_prompts']} for training, {s['eval_prompts']} for evaluation</td></tr>"
            f"<tr><td><b>Answers</b></td><td>{s['answers']}</td></tr>"
            f"<tr><td><b>Ratings</b></td><td>{s['ratings']} ({s['judgements']} with a winner or a 1–5 score); "
            f"{esc(s['goal']['text'])}</td></tr>"
            f"<tr><td><b>Reward model</b></td><td>{reward_line}</td></tr>"
            f"<tr><td><b>Training runs</b></td><td>{runs}</td></tr></table>")
