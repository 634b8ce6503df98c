"""`python -m facepoints` (torchrun uses this entry too)."""

import sys

from .cli import main

sys.exit(main())
