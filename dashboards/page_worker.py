"""A helper of `dashboards.site.build_site`: reads (site data, source records) pickled on stdin,
writes the list of their pages' HTML pickled on stdout. Started before its data is ready, so the
imports below happen while the parent queries the warehouse."""

from __future__ import annotations

import os
import pickle
import sys

from dashboards.site import render_pages


def main() -> int:
    data, records = pickle.load(sys.stdin.buffer)
    pickle.dump(render_pages(data, records), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    # out without the interpreter's teardown of plotly and pandas (~0.2 s), which the parent,
    # waiting for this process to end, would otherwise wait for too: the pages are written and flushed
    os._exit(main())
