"""``python -m core.cli``: how the desktop app starts its engine process."""

import sys

from core.cli.main import main

sys.exit(main())
