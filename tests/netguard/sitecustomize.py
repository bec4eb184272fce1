"""Loaded by every ``superhf`` process the tests start (through PYTHONPATH): any attempt to
open a connection beyond this machine (or look up a host name other than localhost) is
refused and written to the file named by SUPERHF_NETGUARD_LOG, which the tests then require
to be empty. Loopback stays open: processes of one multi-process run talk over it."""

import os
import socket
import traceback

_LOG = os.environ.get("SUPERHF_NETGUARD_LOG")


def _refuse(what: str):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(f"{what}\n{''.join(traceback.format_stack(limit=8))}\n")
    raise OSError(f"network access refused in tests: {what}")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


_getaddrinfo = socket.getaddrinfo
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


def _loopback(host) -> bool:
    host = host.decode() if isinstance(host, bytes) else host
    return host in LOCAL_NAMES or str(host).startswith("127.")


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(f"connect {address!r}")
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(f"connect_ex {address!r}")
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _loopback(host):
        _refuse(f"getaddrinfo {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
