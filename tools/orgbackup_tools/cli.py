"""The `orgbackup` command line: each subcommand lives in ``orgbackup_tools.commands.<name>`` with a ``register``."""

import argparse
import importlib
import sys
from collections.abc import Sequence

from orgbackup.exceptions import OrgBackupError

COMMANDS = ("policy", "simulate", "alerts", "bench", "doctor", "coverage", "recover", "protection", "invoke")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orgbackup", description=__doc__.splitlines()[0] if __doc__ else None)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"orgbackup_tools.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except OrgBackupError as error:
        print(f"orgbackup: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
