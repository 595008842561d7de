"""Run modalfleet from a checkout: python cli.py <command> (same as the `modalfleet` command)."""

import sys

from modalfleet.cli import main

if __name__ == "__main__":
    sys.exit(main())
