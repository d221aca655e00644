"""``python -m genz_pyro.cli``."""

import sys

from genz_pyro.cli import main

sys.exit(main())
