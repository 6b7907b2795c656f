"""`python -m capture_agent` is the same program as `llmcoder-capture`."""

import sys

from capture_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
