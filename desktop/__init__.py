"""SuperHF Studio's desktop app (PySide6). Calls ``core``; model work runs in child processes
of the ``superhf`` command line, light work in worker threads."""

import core  # noqa: F401  (switches Hugging Face libraries offline before anything imports them)
