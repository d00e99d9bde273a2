"""``python -m diffem``: see :mod:`diffem.cli`."""

import sys

from .cli import main

sys.exit(main())
