"""The guard that every CLI test runs under (tests/netguard/sitecustomize.py)."""

import subprocess
import sys


def test_the_network_guard_of_the_cli_tests_catches_a_connection(tmp_path):
    """An attempt at a connection is refused before any packet leaves, and recorded."""
    import os

    from conftest import NETGUARD

    log = tmp_path / "log"
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError:\n    pass\n"
    env = dict(os.environ, PYTHONPATH=str(NETGUARD), SUPERHF_NETGUARD_LOG=str(log))
    subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=True)
    assert "getaddrinfo" in log.read_text() or "connect" in log.read_text()


def test_loopback_stays_open_for_the_processes_of_one_run(tmp_path):
    """Processes of a multi-process run meet on 127.0.0.1: that is not the network."""
    import os

    from conftest import NETGUARD

    log = tmp_path / "log"
    code = ("import socket\n"
            "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen(1)\n"
            "client = socket.create_connection(server.getsockname(), timeout=5)\n"
            "print('connected')\n")
    env = dict(os.environ, PYTHONPATH=str(NETGUARD), SUPERHF_NETGUARD_LOG=str(log))
    result = subprocess.run([sys.executable, "-c", code], env=env, timeout=60, capture_output=True, text=True)
    assert result.stdout.strip() == "connected", result.stderr
    assert not log.exists() or log.read_text() == ""
