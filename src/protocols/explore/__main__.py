"""``python -m protocols.explore`` (``scripts/explore``): see ``protocols.explore.cli``."""

import sys

from protocols.explore.cli import main

sys.exit(main())
