"""The bundle's executable: the desktop app, or with ``--superhf-cli ARGS`` the command line
(the engine's child processes are this same executable), or ``--self-test``."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # spawned helper processes (the memory probe) re-enter here
    from desktop.app import main

    sys.exit(main())
