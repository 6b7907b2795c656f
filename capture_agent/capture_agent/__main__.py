"""Says honestly that the agent is not built yet."""

import sys


def main() -> int:
    print("The LLMCoder capture agent is not implemented yet; see capture_agent/README.md.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
