"""SuperHF Studio's desktop app (PySide6). Calls ``core``; long work runs in worker threads."""
