"""``python -m deepsphere`` runs the ``deepsphere`` command."""

import sys

from .cli import main

sys.exit(main())
