"""``make package-test``: the built bundle, as a user gets it: its self-test (the whole engine
on the starter model, in a temporary workspace) with no network at all where the machine
allows it (a network namespace of its own), then the window opened offscreen for a few
seconds in an empty workspace. The environment is cleaned of this checkout's Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / "dist" / "superhf-studio" / ("superhf-studio.exe" if os.name == "nt" else "superhf-studio")


def clean_env(home: str) -> dict:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DISPLAY", "XDG_RUNTIME_DIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["SUPERHF_HOME"] = home
    return env


def no_network(cmd: list[str]) -> tuple[list[str], str]:
    """The command in a network namespace with no interfaces, where unshare allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", *cmd], "no network at all (a network namespace of its own)"
    return cmd, "the machine's network (unshare -n is not allowed here)"


def main() -> int:
    if not EXE.is_file():
        print(f"No bundle at {EXE}: run 'make package' first.")
        return 1
    with tempfile.TemporaryDirectory(prefix="bundle-test-") as home:
        cmd, where = no_network([str(EXE), "--self-test"])
        print(f"Self-test of {EXE} with {where}:", flush=True)
        done = subprocess.run(cmd, env=clean_env(home), timeout=900)
        if done.returncode != 0:
            print(f"The self-test failed (exit status {done.returncode}).")
            return 1
        env = dict(clean_env(home), QT_QPA_PLATFORM="offscreen")
        cmd, where = no_network([str(EXE), "--home", str(Path(home) / "ws")])
        print(f"Opening the window offscreen for 15 s with {where}…", flush=True)
        try:
            window = subprocess.run(cmd, env=env, timeout=15, capture_output=True, text=True)
            print(f"The window exited early (status {window.returncode}):\n{window.stderr[-3000:]}")
            return 1
        except subprocess.TimeoutExpired:
            pass  # still open after 15 s: it started and kept running
        if not (Path(home) / "ws" / "superhf.db").is_file():
            print("The window did not create its workspace.")
            return 1
    print("Bundle test passed: self-test ok, window opened.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
