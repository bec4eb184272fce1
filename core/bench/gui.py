"""``superhf bench gui``: how soon the window shows and how smooth it stays while training
runs. The measuring happens in the desktop process (``desktop.bench_gui``); this side, which
never imports Qt, prepares a scratch workspace on the starter model (simulated ratings, a
reward model, prompts) and starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

from core.bench.common import _model_name, _starter_prompts
from core.bench.superhf import seed_workspace, simulated_ratings
from core.errors import SuperHFError
from core.store.database import Store, open_store


def bench_gui(store: Store, *, model: Optional[str] = None, say: Callable[[str], None] = print,
              on_progress=None) -> dict:
    name = _model_name(store, model, say)
    prompts = list(dict.fromkeys(_starter_prompts(40)))[:16]
    rows = simulated_ratings(store, name, prompts, 60, on_progress)
    with tempfile.TemporaryDirectory(prefix="bench-gui-") as home:
        with open_store(home) as scratch:
            seed_workspace(scratch, store.model(name)["path"], name, rows, prompts)
        env = dict(os.environ)
        if not env.get("DISPLAY"):
            env.setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen: Qt draws into memory
        platform = env.get("QT_QPA_PLATFORM") or f"the display {env['DISPLAY']}"
        done = subprocess.run([sys.executable, "-m", "desktop.bench_gui", home, repr(time.time())],
                              capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SuperHFError(f"The desktop benchmark failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    say(f"Launch to a painted window: {figures['launch_seconds']:.2f} s (on {platform}).")
    say(f"While a training job ran ({figures['job_seconds']:.0f} s, pages switched every 0.4 s): longest event-loop "
        f"stall {figures['max_stall_ms']:.1f} ms, 99th percentile {figures['p99_stall_ms']:.1f} ms over "
        f"{figures['ticks']} ticks of 10 ms. Job: {figures['job_outcome']}")
    if figures["stalls_over_50_ms"]:
        say("stalls over 50 ms (ms, seconds into the job, page): " + ", ".join(
            f"{ms:.0f} at {t:.1f} s on {page}" for ms, t, page in figures["stalls_over_50_ms"]))
    return {"model": name, "platform": platform, **figures}
