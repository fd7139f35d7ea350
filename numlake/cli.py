"""The `numlake` command. Each command lives with the code it drives and registers itself here.

Usage and configuration errors print one line naming what is wrong and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from numlake.errors import UsageError
from numlake.host import disable_transparent_huge_pages
from numlake.msisdn import mask_text

# module -> it defines `register(subparsers)`; imports stay light (no dagster at import time).
COMMAND_MODULES = (
    "numlake.simulate.command",
    "orchestration.command",
    "ingestion.pull.command",
    "numlake.check.command",
    "numlake.notices.command",
    "dashboards.command",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="numlake",
        description="Data lake of the national number-resource sharing platform.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    disable_transparent_huge_pages()  # numlake/host.py: huge-page faults cost more than the work here
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        rc = args.func(args)
        return int(rc or 0)
    except UsageError as e:
        print(f"numlake: error: {mask_text(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("numlake: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
