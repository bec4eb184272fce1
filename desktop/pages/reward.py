"""Reward model: train it from the ratings, see how often it agrees with held-out ratings,
and read the comparisons where it disagrees with you."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
)

from core.reward.config import RewardSettings
from core.journey.overview import ENOUGH_PAIRS as MIN_RATINGS
from core.store.ratings import count_judgements
from core.store.reward_models import list_reward_models, reward_model_names
from core.settings import declared
from desktop.pages.base import Page, esc, fill_table, read_only_table
from desktop.pages.tidy import TableTidy
from desktop.pages.charts import AccuracyChart
from desktop.pages.settings_form import setting_args, setting_widget


class RewardPage(Page):
    title = "4  Reward model"
    purpose = ("A small model that learns to predict which answer you would prefer. SuperHF uses it to pick the "
               "best of many answers. Its accuracy is measured on ratings it did not learn from.")

    def __init__(self, studio):
        super().__init__(studio)
        row = QHBoxLayout()
        # the settings the form shows (the mode), built from their declarations in RewardSettings
        d = RewardSettings()
        self.fields = {f.name: setting_widget(RewardSettings, f.name, getattr(d, f.name))
                       for f, spec in declared(RewardSettings) if spec.form}
        self.mode = self.fields["mode"]
        self.mode.setObjectName("reward-mode")
        self.train_button = QPushButton("Train the reward model", objectName="train-reward")
        self.train_button.clicked.connect(self.train)
        self.review_button = QPushButton("Where does it disagree with me?", objectName="review-reward")
        self.review_button.clicked.connect(self.review)
        row.addWidget(self.mode)
        row.addWidget(self.train_button)
        row.addWidget(self.review_button)
        row.addStretch()
        self.layout_.addLayout(row)
        self.summary = QLabel(objectName="reward-summary", wordWrap=True)
        self.result = QLabel(objectName="reward-result", wordWrap=True)
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.result)
        self.table = read_only_table("reward-models", ["Name", "Version", "Mode", "Comparisons", "Held-out accuracy"])
        versions = QHBoxLayout()
        versions.addWidget(self.table, 3)
        self.chart = AccuracyChart()  # is each new version closer to the user's taste?
        self.chart.setObjectName("reward-accuracy-chart")
        versions.addWidget(self.chart, 2)
        self.layout_.addLayout(versions, 1)
        self.tidy = TableTidy(self, self.table, "reward")  # a name with all its versions
        self.button_row([("Rename…", "rename-reward", self.tidy.ask_rename),
                         ("Delete…", "delete-reward", self.tidy.ask_delete)])
        self.layout_.addWidget(QLabel("<b>Where it disagrees with you</b> (held-out comparisons it gets wrong, "
                                      "most confident first)"))
        self.disagree = QTextBrowser(objectName="disagreements")
        self.disagree.setPlaceholderText("Train the reward model, or ask where it disagrees with you.")
        self.layout_.addWidget(self.disagree, 2)
        self.refresh()

    def refresh(self) -> None:
        with self.studio.store() as store:
            rows = list_reward_models(store)
            names = reward_model_names(store)
            judged = count_judgements(store)  # pairs with a winner and 1-5 scores, as everywhere
        fill_table(self.table, [(r["name"], r["version"], r["mode"], r["pairs"],
                                 f"{r['accuracy']:.1%}" if r["accuracy"] is not None else "too few ratings")
                                for r in rows])
        self.review_button.setEnabled(bool(rows))
        newest = names[0] if names else None  # the name trained most recently
        shown = [r for r in rows if r["name"] == newest]
        self.chart.show_versions(newest or "", shown)
        self.chart.setVisible(any(r["accuracy"] is not None for r in shown))  # nothing measured: the table says why
        self.summary.setText(f"{judged} ratings with a winner or a 1–5 score are stored." + (
            "" if judged >= MIN_RATINGS else f" Rate at least {MIN_RATINGS} to measure how often "
            "it agrees with you; it can still be trained."))

    def train(self) -> None:
        self.command("Training the reward model",
                     ["reward", "train", *setting_args(RewardSettings, self.fields), "--review"], self._trained)

    def review(self) -> None:
        self.command("Checking the reward model against your ratings", ["reward", "review"],
                     lambda result: self.show_disagreements(result["review"]))

    def _trained(self, result: dict) -> None:
        review = result["review"]
        judged = result["verdict"]  # in plain words, with what to do next
        self.result.setText(f"Trained {esc(result['name'])} v{result['version']} on {result['train_pairs']} "
                            f"comparisons in {result['seconds']:.0f} s. {esc(judged['message'])}"
                            + ("" if judged["better_than_chance"] else f"<br>{esc(judged['advice'])}"))
        self.show_disagreements(review)
        self.refresh()

    def show_disagreements(self, review: dict) -> None:
        if not review["checked"]:
            self.disagree.setHtml("<p>No comparisons to check yet.</p>")
            return
        where = "held-out" if review["heldout"] else "training (too few to hold any out)"
        parts = [f"<p>It disagrees with {review['wrong_count']} of {review['checked']} {where} comparisons.</p>"]
        for w in review["wrong"]:
            parts.append(f"<hr><p><b>Prompt:</b> {esc(w['prompt'])}</p>"
                         f"<p><b>You preferred:</b> {esc(w['chosen'])}</p>"
                         f"<p><b>It preferred ({1 - w['guess']:.0%} sure):</b> {esc(w['rejected'])}</p>")
        self.disagree.setHtml("".join(parts))
