"""CLI of notices: `numlake watch`, `numlake notices`, `numlake webhook` (the operator's side).

The operator acts for an organisation with `--org`; like an organisation's key, it can only name
an organisation registered in the orgs feed as of the last run.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys

from numlake.cliargs import seconds
from numlake.errors import UsageError
from numlake.msisdn import mask_text
from numlake.paths import Home

HOME_HELP = "home folder (default $NUMLAKE_HOME or .numlake)"


def _store(args):
    from numlake.notices.store import NoticeStore

    home = Home.resolve(args.home)
    if not home.root.is_dir():  # a mistyped --home must not become a new home with an empty store
        raise UsageError(f"home {home.root} does not exist (run `numlake run` first)")
    return NoticeStore(home)


def _watch_add(args) -> int:
    from numlake.notices import watchlist

    store = _store(args)
    org = store.require_registered(args.org)
    entries = watchlist.prepare(watchlist.read_csv(args.file), what="line", first=2)
    r = store.put_entries(org, entries)
    print(
        f"watchlist of {org}: {r['received']:,} received, {r['added']:,} added, {r['replaced']:,} replaced; "
        f"{r['entries']:,} entries"
    )
    return 0


def _watch_remove(args) -> int:
    from numlake.notices import watchlist

    store = _store(args)
    org = store.require_registered(args.org)
    rows = watchlist.read_csv(args.file, need_date=False)
    r = store.remove_entries(org, watchlist.hashes_of([row[0] for row in rows], what="line", first=2))
    print(f"watchlist of {org}: {r['removed']:,} of {r['received']:,} removed; {r['entries']:,} entries")
    return 0


def _watch_list(args) -> int:
    store = _store(args)
    org = store.require_registered(args.org)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["msisdn_sha256", "bound_date", "ref", "state"])
    after = None
    while True:
        page = store.list_entries(org, after=after, limit=10_000)
        for e in page:
            out.writerow([e["msisdn_sha256"], e["bound_date"], e["ref"] or "", e["state"]])
        if len(page) < 10_000:
            return 0
        after = page[-1]["msisdn_sha256"]


def _notices_feed(args) -> int:
    from numlake.check.audit import AuditLog

    if not args.org:
        raise UsageError("notices: give --org ORG (its feed), or an ACTION: raise | deliver | status")
    if not (0 <= args.after < 2**63 and 1 <= args.limit < 2**63):
        raise UsageError("notices: --after must be 0 to 2^63-1 and --limit 1 to 2^63-1")
    store = _store(args)
    org = store.require_registered(args.org)
    rows = store.feed_raw(org, args.after, args.limit)
    AuditLog(store.home).record_event(
        org=org,
        key_id=None,
        client="cli",
        endpoint="cli:notices",
        event="notices.read",
        after=args.after,
        count=len(rows),
        last_seq=rows[-1][0] if rows else None,
    )
    for _, body in rows:
        print(body)
    return 0


def _notices_raise(args) -> int:
    from numlake.notices.raising import raise_notices
    from orchestration.runner import run_lock
    from orchestration.settings import Settings

    settings = Settings.resolve(args.home)
    with run_lock(settings, wait_s=args.wait):
        result = raise_notices(settings.home)
    print(result.line())
    return 0


def _notices_deliver(args) -> int:
    from numlake.notices.delivery import Deliverer

    deliverer = Deliverer(Home.resolve(args.home), ca_file=args.ca_file)
    if args.loop:
        deliverer.loop()
        return 0
    summary = deliverer.run_once(wait=True)
    print(summary.line())
    return 0


def _notices_status(args) -> int:
    from numlake.notices.status import delivery_state

    for row in delivery_state(Home.resolve(args.home)):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _notices_demo(args) -> int:
    from numlake.notices.demo import run_demo

    print(run_demo(Home.resolve(args.home)))
    return 0


def _webhook_set(args) -> int:
    from numlake.notices.delivery import check_url

    store = _store(args)
    org = store.require_registered(args.org)
    if args.secret_file:
        try:
            secret = open(args.secret_file, encoding="utf-8").read().strip()
        except OSError as e:
            raise UsageError(f"--secret-file {args.secret_file}: {e.strerror}") from None
    else:
        secret = args.secret
    if not secret or len(secret) < 16:
        raise UsageError("webhook: give --secret or --secret-file with at least 16 characters")
    store.set_webhook(org, check_url(args.url), secret)
    print(mask_text(f"webhook of {org}: {args.url}"))
    return 0


def _webhook_remove(args) -> int:
    store = _store(args)
    org = store.require_registered(args.org)
    print(f"webhook of {org}: {'removed' if store.remove_webhook(org) else 'none registered'}")
    return 0


def register(subparsers) -> None:
    """Add `watch`, `notices` and `webhook` to the numlake CLI."""
    w = subparsers.add_parser("watch", help="organisations' watchlists (RULES 8.1): add, remove, list")
    w.add_argument("--home", help=HOME_HELP)
    wsub = w.add_subparsers(dest="watch_command", metavar="ACTION")
    for name, func, helptext in (
        ("add", _watch_add, "add or replace entries from a CSV: msisdn,bound_date[,ref]"),
        ("remove", _watch_remove, "remove the entries of the numbers of a CSV with a msisdn column"),
        ("list", _watch_list, "print the entries as CSV: msisdn_sha256,bound_date,ref,state"),
    ):
        p = wsub.add_parser(name, help=helptext)
        p.add_argument("--org", required=True, metavar="ORG", help="org_id of the orgs feed")
        if name != "list":
            p.add_argument(
                "--file",
                required=True,
                metavar="F",
                help="CSV, UTF-8, with a header; msisdn in any INTERCHANGE 2.3 shape or its SHA-256",
            )
        p.add_argument("--home", default=argparse.SUPPRESS)
        p.set_defaults(func=func)

    def _watch_usage(args) -> int:
        raise UsageError("watch: give an ACTION: add | remove | list (with --org ORG)")

    w.set_defaults(func=_watch_usage)

    n = subparsers.add_parser(
        "notices",
        help="an organisation's notices (RULES 8), raise and deliver them",
        description="Without ACTION: print the notices of --org after --after SEQ as JSON "
        "lines (notice_id, seq, kind and the fields of RULES 8).",
    )
    n.add_argument("--home", help=HOME_HELP)
    n.add_argument("--org", metavar="ORG", help="org_id whose notices to print")
    n.add_argument("--after", type=int, default=0, metavar="SEQ", help="only notices with seq > SEQ (default 0)")
    n.add_argument("--limit", type=int, default=1_000_000, metavar="N", help="at most N notices")
    n.set_defaults(func=_notices_feed)
    nsub = n.add_subparsers(dest="notices_command", metavar="ACTION")
    r = nsub.add_parser("raise", help="judge watchlists and segments against the published data now")
    r.add_argument("--wait", type=seconds, default=0.0, metavar="SECONDS", help="wait for a running pipeline run")
    d = nsub.add_parser("deliver", help="POST due notices to the registered webhooks (one pass, or --loop)")
    d.add_argument("--loop", action="store_true", help="keep delivering until interrupted")
    d.add_argument("--ca-file", metavar="PEM", help="CA bundle to verify webhooks' certificates with")
    s = nsub.add_parser("status", help="per-organisation delivery state as JSON lines")
    demo = nsub.add_parser("demo", help="the demo's watchlists and local webhook receiver (after `numlake run`)")
    for p, func in ((r, _notices_raise), (d, _notices_deliver), (s, _notices_status), (demo, _notices_demo)):
        p.add_argument("--home", default=argparse.SUPPRESS)
        p.set_defaults(func=func)

    h = subparsers.add_parser("webhook", help="an organisation's webhook for notices: set, remove")
    h.add_argument("--home", help=HOME_HELP)
    hsub = h.add_subparsers(dest="webhook_command", metavar="ACTION")
    hs = hsub.add_parser("set", help="register (or replace) the HTTPS URL and secret of --org")
    hs.add_argument("--url", required=True, help="https://... (the certificate is verified)")
    hs.add_argument("--secret", help="the shared secret of the signatures (at least 16 characters)")
    hs.add_argument("--secret-file", metavar="F", help="read the secret from this file instead")
    hs.set_defaults(func=_webhook_set)
    hr = hsub.add_parser("remove", help="stop POSTing the notices of --org")
    hr.set_defaults(func=_webhook_remove)
    for p in (hs, hr):
        p.add_argument("--org", required=True, metavar="ORG")
        p.add_argument("--home", default=argparse.SUPPRESS)

    def _webhook_usage(args) -> int:
        raise UsageError("webhook: give an ACTION: set | remove (with --org ORG)")

    h.set_defaults(func=_webhook_usage)
