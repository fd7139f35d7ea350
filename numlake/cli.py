"""The `numlake` command. Each command lives with the code it drives and registers itself here.

Usage and configuration errors print one line naming what is wrong and exit 2; no traceback. An
operating-system error that ends a command (a read-only home, a full disk) is one line too, exit 1;
``NUMLAKE_TRACEBACK=1`` shows its traceback instead.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import sys
import threading

from numlake import env
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
        env.check_all()  # a bad numeric setting: one line now, not a failed step later (numlake/env.py)
        rc = args.func(args)
        return int(rc or 0)
    except UsageError as e:
        print(f"numlake: error: {mask_text(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("numlake: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`numlake notices status | head`): no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # what is still buffered goes nowhere, quietly
        return 141  # 128 + SIGPIPE, as a shell reports a command its pipe ended
    except OSError as e:  # a read-only home, a full disk, a folder that went away: say which, in one line
        if os.environ.get("NUMLAKE_TRACEBACK") == "1":
            raise
        where = f": {e.filename}" if e.filename else ""
        print(f"numlake: error: {mask_text(e.strerror or str(e))}{mask_text(str(where))}", file=sys.stderr)
        return 1


def console() -> None:
    """The `numlake` executable: `main`, then out of the process without the interpreter's teardown.

    After a daily run the interpreter spent 0.6 s tearing down what the run had imported (module
    dictionaries of dagster, pandas, plotly; ~350,000 objects) before the process ended: work
    nothing needs, and a twentieth of the run. Every file has been closed by then and every
    database committed; what the teardown would still have done for anyone is done here first:
    non-daemon threads are joined, the atexit functions run (logging's flush among them), and the
    standard streams are flushed. `main` itself returns as before, for callers in a process that
    goes on (the tests)."""
    try:
        rc = main()
    except SystemExit as e:  # sys.exit() from a command: its code, as the interpreter would
        if e.code is None or isinstance(e.code, int):
            rc = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            rc = 1
    leave(rc)


def leave(rc: int) -> None:
    """End the process with `rc` after what the interpreter's own exit would do for others."""
    # As Py_FinalizeEx begins: threading's own exit calls (which tell idle ThreadPoolExecutor
    # workers to stop), then every non-daemon thread joined; then the atexit functions.
    threading._shutdown()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            rc = rc or 1
    os._exit(rc)


if __name__ == "__main__":
    console()
