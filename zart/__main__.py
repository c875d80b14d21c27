"""``python -m zart``: the ``zart`` command line."""

import sys

from .cli import main

sys.exit(main())
