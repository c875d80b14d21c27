"""``python -m zart.cli``: the ``zart`` command line, as ``python -m zart``."""

import sys

from . import main

sys.exit(main())
