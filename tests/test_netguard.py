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
