"""``make screenshots``: the real app, on a real (virtual) X screen, on a workspace prepared
with the starter model, photographed page by page into ``resources/screenshots/``.

Run under Xvfb: ``xvfb-run -a -s "-screen 0 1400x900x24" python packaging/screenshots.py``.
Preparing the workspace takes about 15 minutes on a 2-core CPU (120 ratings by a simulated
person of consistent taste, a reward model, a run with the app's defaults, a blind
comparison); it is kept in ``build/screenshot-home`` and reused by the next run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "build" / "screenshot-home"
OUT = ROOT / "resources" / "screenshots"


GUIDELINES = """**What a good answer does for our customers**

1. Speaks to the reader ("you", "your"), not about itself.
2. Gives steps as a numbered or bulleted list when there are steps.
3. Is warm: a thank-you or an offer to help further is welcome.
4. Never leaves a placeholder like [Name] in the text.

When both answers are poor, press **B**; when you can write a better one, press **W**."""
RATINGS = 120  # pairs rated by the simulated support lead, chosen by the app as for a person
SEED = 7


def prepare(home: Path) -> None:
    """The workspace a user has after a first session whose ratings follow one consistent,
    sensible taste (the benchmarks' simulated support lead, whose rules are in
    core/bench/rater.py): the starter, its prompts, written guidelines, 120 ratings of the
    pairs the app chose, a reward model, a run with the app's default settings, a blind
    comparison partly judged by the same taste, and pairs waiting to be rated."""
    import random

    from core.bench.journey import _rate
    from core.bench.rater import SimulatedRater
    from core.journey.compare import answer_comparison, open_comparisons, prepare_comparison
    from core.journey.rating import next_pairs
    from core.journey.training import start_run
    from core.models.importing import STARTER_NAME, import_model
    from core.resources import starter_prompts_file
    from core.reward.versions import train_reward_model
    from core.store.database import open_store
    from core.store.prompts import distinct_prompts, import_prompts
    from core.store.texts import save_guidelines
    from core.superhf.config import SuperHFConfig
    from core.superhf.run import run_superhf

    with open_store(home) as store:
        if store.count("comparisons"):
            return  # prepared by an earlier run
        print("Preparing the screenshot workspace (about 15 minutes on a 2-core CPU)…", flush=True)
        if not store.count("models"):
            import_model(store, starter=True)
        import_prompts(store, starter_prompts_file(), set_name="starter")
        save_guidelines(store, GUIDELINES)
        rater, rng = SimulatedRater(), random.Random(SEED)
        _rate(store, STARTER_NAME, rater, RATINGS, rng, SEED, retrain_every=40, device=None,
              on_progress=None, say=print)
        train_reward_model(store, name="taste")
        run = start_run(store, model=STARTER_NAME, reward="taste", prompts="starter",
                        config=SuperHFConfig(seed=SEED).to_dict(), name="first-run")
        run_superhf(store, run["name"])
        prepare_comparison(store, run["name"], n_prompts=12, seed=SEED)
        for shown in open_comparisons(store, run["name"])[:8]:  # some judged, some waiting
            left = rater.prefers_a(shown["left"], shown["right"], rng)
            answer_comparison(store, shown["id"], "left" if left else "right")
        next_pairs(store, distinct_prompts(store, "train"), 6)


def shoot(home: Path, out: Path) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from desktop.app import stylesheet
    from desktop.pages import PAGES
    from desktop.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setStyleSheet(stylesheet())
    window = MainWindow(home)
    window.resize(1280, 820)
    window.show()
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    _settle(app, 6)  # the device probe (a child process) reports
    for i, (key, _title, _cls) in enumerate(PAGES):
        window.show_page(key)
        if key == "reward":
            window.pages["reward"].review()  # where the reward model disagrees
        if key == "export":
            window.pages["export"].folder.setText(str(home.parent / "screenshot-export"))
            window.pages["export"].run_export(force=True)
        while window.studio.busy:
            app.processEvents()
            time.sleep(0.01)
        if key == "train":
            window.pages["train"].show_run("first-run")
        if key == "try":  # the starter and the tuned run answer a question side by side
            page = window.pages["try"]
            page.max_tokens.setValue(96)
            page.question.setPlainText("How do I reset my password if I no longer have access to my email?")
            page.ask()
            while window.studio.busy:
                app.processEvents()
                time.sleep(0.01)
        _settle(app)
        path = out / f"{i}-{key}.png"
        window.screen().grabWindow(window.winId()).save(str(path))
        saved.append(path)
    window.close()
    return saved


def _settle(app, seconds: float = 0.6) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


if __name__ == "__main__":
    HOME.mkdir(parents=True, exist_ok=True)
    prepare(HOME)
    for p in shoot(HOME, OUT):
        print(p.relative_to(ROOT))
