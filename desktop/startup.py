"""What the window needs from the system before Qt starts, checked in plain Python: on Linux,
Qt's own message about a missing platform plugin library ("could not load the Qt platform
plugin xcb") means nothing to our users, and Qt aborts the process before Python can catch
anything. Instead, say which system package to install, or that there is no display."""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

# The libraries Qt 6's xcb platform plugin loads (Qt's "Qt for X11 requirements"), each with its
# Debian/Ubuntu package; libxcb-cursor0 is the one most desktops lack (needed since Qt 6.5).
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xkbcommon-x11": "libxkbcommon-x11-0",
                 "xcb-icccm": "libxcb-icccm4", "xcb-image": "libxcb-image0", "xcb-keysyms": "libxcb-keysyms1",
                 "xcb-randr": "libxcb-randr0", "xcb-render-util": "libxcb-render-util0",
                 "xcb-shape": "libxcb-shape0", "xcb-xkb": "libxcb-xkb1"}
NO_WINDOW_NEEDED = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb"}


def _platform(env: Mapping[str, str], qt_args: Sequence[str]) -> str:
    if "-platform" in qt_args[:-1]:
        return qt_args[list(qt_args).index("-platform") + 1].split(":")[0]
    return env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]


def library_present(name: str) -> bool:
    """Whether ``lib<name>.so`` can be loaded: carried by the desktop bundle, lying in a usual
    library folder or one of LD_LIBRARY_PATH, or known to the linker's cache. The folders come
    first: the cache lookup starts a process per library, at every start of the app; it stays
    for systems that keep libraries elsewhere, so that a working machine is never refused."""
    folders = [getattr(sys, "_MEIPASS", ""), *os.environ.get("LD_LIBRARY_PATH", "").split(":"),
               "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib"]
    for folder in filter(None, folders):
        path = Path(folder)
        if path.is_dir() and (any(path.glob(f"lib{name}.so*")) or any(path.glob(f"*/lib{name}.so*"))):
            return True
    return bool(ctypes.util.find_library(name))


def display_problem(env: Mapping[str, str] = os.environ, qt_args: Sequence[str] = (),
                    system: str = sys.platform,
                    present: Callable[[str], bool] = library_present) -> Optional[str]:
    """None when the window can start, else what to do, in words a user can act on."""
    if not system.startswith("linux"):
        return None
    platform = _platform(env, qt_args)
    if platform in NO_WINDOW_NEEDED:
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("SuperHF Studio found no screen to open its window on (neither DISPLAY nor WAYLAND_DISPLAY is "
                "set). Start it from your desktop session; on a server without one, use the command line: "
                "superhf --help.")
    if platform == "wayland" or (not platform and not env.get("DISPLAY")):
        return None  # Qt's Wayland plugin needs none of the X11 libraries
    missing = [package for name, package in XCB_LIBRARIES.items() if not present(name)]
    if not missing:
        return None
    return (f"SuperHF Studio needs system libraries this computer lacks to open its window: {', '.join(missing)}. "
            f"Install them (on Debian or Ubuntu: sudo apt install {' '.join(missing)}; other systems name the "
            "packages alike), or ask your IT team to, then start it again. Nothing in your workspace was touched.")
