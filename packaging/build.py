"""``make package``: build the one-folder bundle into dist/superhf-studio and print its size,
with the biggest parts, so a change that bloats it shows at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "superhf-studio"


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "PyInstaller", str(ROOT / "packaging" / "superhf-studio.spec"),
                           "--noconfirm", "--distpath", str(ROOT / "dist"), "--workpath",
                           str(ROOT / "build" / "pyinstaller"), "--log-level", "WARN"], cwd=ROOT)
    if done.returncode != 0:
        return done.returncode
    internal = BUNDLE / "_internal"
    parts = sorted(((size(p) if p.is_dir() else p.stat().st_size, p.name) for p in internal.iterdir()), reverse=True)
    print(f"Built {BUNDLE} in {time.perf_counter() - started:.0f} s: {size(BUNDLE) / 2**20:.0f} MiB.")
    print("Largest parts: " + ", ".join(f"{name} {n / 2**20:.0f} MiB" for n, name in parts[:8]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
