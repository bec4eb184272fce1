"""Start-up that explains itself: before Qt starts (which aborts with its own message about
platform plugins), a missing system library or display ends in a message naming what to do."""

from desktop.app import main
from desktop.startup import XCB_LIBRARIES, display_problem

ALL = lambda name: True  # noqa: E731  every library present
NONE = lambda name: False  # noqa: E731
X11 = {"DISPLAY": ":0"}


def test_a_missing_xcb_cursor_library_names_the_package_to_install():
    problem = display_problem(X11, system="linux", present=lambda n: n != "xcb-cursor")
    assert "libxcb-cursor0" in problem and "sudo apt install libxcb-cursor0" in problem
    assert "libxkbcommon" not in problem  # only what is missing
    everything = display_problem(X11, system="linux", present=NONE)
    assert all(package in everything for package in XCB_LIBRARIES.values())


def test_no_display_says_so_and_points_to_the_command_line():
    problem = display_problem({}, system="linux", present=ALL)
    assert "no screen" in problem and "superhf --help" in problem


def test_nothing_to_say_where_the_window_can_start():
    assert display_problem(X11, system="linux", present=ALL) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, system="linux", present=NONE) is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, system="linux", present=NONE) is None
    assert display_problem({}, ["-platform", "offscreen"], system="linux", present=NONE) is None
    assert display_problem({}, system="win32", present=NONE) is None  # Qt ships what it needs there


def test_a_library_is_found_by_the_linker_or_in_a_library_folder(tmp_path, monkeypatch):
    from desktop.startup import library_present

    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)  # a system without a linker cache
    assert not library_present("superhf-test-nothing")
    (tmp_path / "x86_64-linux-gnu").mkdir()
    (tmp_path / "x86_64-linux-gnu" / "libsuperhf-test-nothing.so.0").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    assert library_present("superhf-test-nothing")


def test_the_app_stops_with_the_message_before_qt_starts(monkeypatch, capsys):
    monkeypatch.setattr("desktop.startup.display_problem", lambda **kw: "Install libxcb-cursor0.")
    assert main(["--home", "unused"]) == 1
    assert capsys.readouterr().err.strip() == "error: Install libxcb-cursor0."
