"""``python -m airlift_components.cli``: the same as the ``airlift-components`` console script."""

import sys

from airlift_components.cli import main

sys.exit(main())
