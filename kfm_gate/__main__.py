"""``python -m kfm_gate``."""

import sys

from kfm_gate.cli import main

sys.exit(main())
