"""``python -m georeason ...`` (also ``accelerate launch -m georeason ...``): the ``georeason``
command."""

import sys

from georeason.cli import main

if __name__ == "__main__":
    sys.exit(main())
