"""core/ must never pull in Qt or the desktop package: every module of every subpackage, imported in a
fresh interpreter."""

import pkgutil
import subprocess
import sys

import core


def test_importing_every_core_module_imports_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(core.__path__, "core.") if not m.name.endswith("__main__")]
    assert "core.cli.main" in modules and "core.models.loading" in modules and "core.bench.compare" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import transformers, torch\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'desktop'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_importing_core_switches_the_hub_libraries_offline():
    code = "import core, os; print(os.environ['HF_HUB_OFFLINE'], os.environ['HF_HUB_DISABLE_TELEMETRY'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "0"})
    assert result.stdout.split() == ["1", "1"]



def test_the_window_opens_without_importing_torch():
    # torch takes a second or more to import: the GUI thread leaves that to worker threads
    code = "import sys, desktop.window; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
