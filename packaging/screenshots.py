"""``make screenshots``: the real app, on a real (virtual) X screen, on a workspace prepared
with the starter model, photographed page by page into ``resources/screenshots/``.

Run under Xvfb: ``xvfb-run -a -s "-screen 0 1400x900x24" python packaging/screenshots.py``.
Preparing the workspace takes a few minutes on a CPU (the starter's answers, a reward model
from simulated ratings, a two-iteration run, a blind comparison); it is kept in
``build/screenshot-home`` and reused by the next run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "build" / "screenshot-home"
OUT = ROOT / "resources" / "screenshots"


def prepare(home: Path) -> None:
    from core.bench.superhf import simulated_ratings
    from core.journey.compare import prepare_comparison
    from core.models.importing import STARTER_NAME, import_model
    from core.store.prompts import import_prompts
    from core.journey.rating import next_pairs
    from core.store.ratings import add_ratings
    from core.resources import starter_prompts_file
    from core.reward.versions import train_reward_model
    from core.journey.training import start_run
    from core.store.database import open_store
    from core.store.prompts import distinct_prompts
    from core.superhf.run import run_superhf
    from core.superhf.config import SuperHFConfig

    with open_store(home) as store:
        if store.count("comparisons"):
            return  # prepared by an earlier run
        print("Preparing the screenshot workspace (a few minutes)…", flush=True)
        if not store.count("models"):
            import_model(store, starter=True)
        import_prompts(store, starter_prompts_file(), set_name="starter")
        train = [text for _, text in distinct_prompts(store, "train")][:12]
        add_ratings(store, simulated_ratings(store, STARTER_NAME, train, 40), source="app")
        train_reward_model(store)
        config = SuperHFConfig(iterations=3, prompts_per_iteration=8, superbatch_size=4)
        run = start_run(store, model=STARTER_NAME, reward="reward", prompts="starter", config=config.to_dict(),
                        name="first-run")
        run_superhf(store, run["name"])
        prepare_comparison(store, run["name"], n_prompts=6)
        prompts = distinct_prompts(store, "train")
        next_pairs(store, prompts[:6], 6)


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
