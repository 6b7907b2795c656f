"""Entry point for `python -m services.cli`."""

import sys

from services.cli.commands import main

sys.exit(main())
