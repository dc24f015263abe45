"""``python -m mtst.cli`` (and ``torchrun -m mtst.cli``): the same command as the ``mtst`` console script."""

import sys

from mtst.cli import main

sys.exit(main())
