"""CLI of the check service: `numlake check`, `numlake serve`, `numlake keys`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from numlake.cliargs import at_least_one, port, rate
from numlake.errors import UsageError
from numlake.paths import Home

SMALL_FILE_ROWS = 1000


def _check(args) -> int:
    from numlake.check import bulk, rules, snapshot

    home = Home.resolve(args.home)
    if args.since is not None:
        try:
            rules.parse_since(args.since)
        except ValueError as e:
            raise UsageError(f"--since {args.since!r}: {e}") from None
    if args.file:
        if args.msisdn:
            raise UsageError("give either MSISDN or --file, not both")
        path = Path(args.file)
        if args.out and Path(args.out).is_dir():
            raise UsageError(f"--out {args.out} is a folder: name the file to write")
        req = bulk.read_requests(path, args.since)
        only = req.queries if len(req.queries) <= SMALL_FILE_ROWS else None
        index = snapshot.load_index(home, only=only)
        answers = bulk.answer_file(index, req)
        out = Path(args.out) if args.out else None
        bulk.write_output(answers, out, bulk.output_format(out, req.fmt), req)
        errors = sum(e is not None for e in answers.error)
        if out is not None:
            print(
                f"numlake check: {len(answers):,} rows -> {out} ({errors:,} with an error; as_of {answers.as_of})",
                file=sys.stderr,
            )
        return 0
    if args.out:
        raise UsageError("--out goes with --file")
    if not args.msisdn:
        raise UsageError("check: give MSISDN --since YYYY-MM-DD, or --file IN")
    if args.since is None:
        raise UsageError("check: --since YYYY-MM-DD is required")
    index = snapshot.load_index(home, only=[args.msisdn])
    try:
        answer = index.answer_one(args.msisdn, args.since)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(json.dumps(answer, ensure_ascii=False))
    return 0


def _serve(args) -> int:
    from numlake.check import server

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1-65535 (got {args.port})")
    if args.reload_interval <= 0:
        raise UsageError(f"--reload-interval must be more than 0 seconds (got {args.reload_interval:g})")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers must be 1-64 (got {args.workers})")
    return server.serve(
        Home.resolve(args.home),
        args.host,
        args.port,
        rate=args.rate_limit,
        burst=args.burst,
        reload_interval=args.reload_interval,
        workers=args.workers,
    )


def _known_source(home: Home, role: str | None) -> None:
    """A carrier key names a source of the home's registry, when the home has one (a key may be
    made before the first simulate or pull; the registry then names no source yet)."""
    from numlake.check.keys import parse_role

    role = parse_role(role)
    if not (role or "").startswith("carrier:") or not home.default_registry.is_file():
        return
    from ingestion.registry import load_registry

    source_id = role.partition(":")[2]
    sources = load_registry(home.default_registry)
    if source_id not in sources:
        some = ", ".join(sorted(sources)[:5]) + (", ..." if len(sources) > 5 else "")
        raise UsageError(f"--role {role!r}: no source {source_id!r} in {home.default_registry} (it has {some})")


def _keys_create(args) -> int:
    from numlake.check.keys import KeyStore

    home = Home.resolve(args.home)
    _known_source(home, getattr(args, "role", None))
    rec, token = KeyStore(home).create(args.org, getattr(args, "role", None))
    print(token)
    print(
        f"key {rec.key_id} {rec.org} ({rec.describe()}): shown once, stored hashed; revoke with "
        f"`numlake keys revoke {rec.key_id}`",
        file=sys.stderr,
    )
    return 0


def _keys_revoke(args) -> int:
    from numlake.check.keys import KeyStore

    rec = KeyStore(Home.resolve(args.home)).revoke(args.key_id)
    print(f"key {rec.key_id} of {rec.org} revoked at {rec.revoked_at}")
    return 0


def _keys_list(args) -> int:
    from numlake.check.keys import KeyStore

    rows = KeyStore(Home.resolve(args.home)).list()
    print(f"{'key_id':<14}{'name':<24}{'role':<28}{'created_at':<28}revoked_at")
    for k in rows:
        print(f"{k.key_id:<14}{k.org:<24}{k.describe():<28}{k.created_at:<28}{k.revoked_at or '-'}")
    return 0


def _keys_audit(args) -> int:
    from numlake.check.audit import AuditLog
    from numlake.check.keys import KeyStore

    home = Home.resolve(args.home)
    keys = frozenset(k.key_id for k in KeyStore(home).list() if args.org is not None and k.org_id == args.org)
    for rec in AuditLog(home).find(args.msisdn, org=args.org, key_ids=keys):
        print(json.dumps(rec, ensure_ascii=False))
    return 0


def register(subparsers) -> None:
    """Add `check`, `serve` and `keys` to the numlake CLI."""
    p = subparsers.add_parser(
        "check",
        help="has this number changed hands since a date? (RULES 6)",
        description="Prints one JSON object: query, since, answer (yes/no/no_data), "
        "last_disconnect_date, as_of. With --file: one answer per row (CSV or JSONL).",
    )
    p.add_argument(
        "msisdn",
        nargs="?",
        metavar="MSISDN",
        help="a number in any INTERCHANGE 2.3 shape, or the lowercase hex SHA-256 of the 11 digits",
    )
    p.add_argument("--since", metavar="YYYY-MM-DD", help="the date D (with --file: default for rows without one)")
    p.add_argument("--file", metavar="IN", help="bulk input: CSV with msisdn,since columns, or JSON lines")
    p.add_argument(
        "--out", metavar="OUT", help="bulk output (.csv or .jsonl; another suffix: the input's format); default stdout"
    )
    p.add_argument("--home", help="home folder (default $NUMLAKE_HOME or .numlake)")
    p.set_defaults(func=_check)

    s = subparsers.add_parser(
        "serve",
        help="HTTP API of the check service, and the dashboards (read-only)",
        description="Serve the check API (/v1: single and bulk checks, watchlists, notices; API keys from "
        "`numlake keys`) and the home's dashboards, read-only, from the latest check snapshot. "
        "docs/CHECK.md describes the API.",
    )
    s.add_argument("--home", help="home folder (default $NUMLAKE_HOME or .numlake)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    s.add_argument(
        "--rate-limit",
        type=rate,
        default=50.0,
        metavar="PER_SECOND",
        help="requests per second per API key (default 50; 0 = unlimited)",
    )
    s.add_argument("--burst", type=at_least_one, default=100, help="burst size per API key (default 100)")
    s.add_argument(
        "--reload-interval",
        type=rate,
        default=1.0,
        metavar="SECONDS",
        help="how often to look for a newly published snapshot (default 1)",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the snapshot, the rate limits and the audit log (default 1)",
    )
    s.set_defaults(func=_serve)

    k = subparsers.add_parser("keys", help="API keys of the check service: create, revoke, list")
    k.add_argument("--home", help="home folder (default $NUMLAKE_HOME or .numlake)")
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION")
    kc = ksub.add_parser("create", help="create a key; prints it once")
    kc.add_argument("org", metavar="NAME", help="the key's name (without --role: the org_id it acts for)")
    kc.add_argument(
        "--role",
        metavar="ROLE",
        help="org:<org_id> (the check and notices; the default), "
        "carrier:<source_id> (that source's report) or regulator",
    )
    kc.add_argument("--home", default=argparse.SUPPRESS)
    kc.set_defaults(func=_keys_create)
    kr = ksub.add_parser("revoke", help="revoke a key by id")
    kr.add_argument("key_id", metavar="KEY_ID")
    kr.add_argument("--home", default=argparse.SUPPRESS)
    kr.set_defaults(func=_keys_revoke)
    kl = ksub.add_parser("list", help="list keys (never the keys themselves)")
    kl.add_argument("--home", default=argparse.SUPPRESS)
    kl.set_defaults(func=_keys_list)

    ka = ksub.add_parser(
        "audit",
        help="the audited requests that asked for a number (proof of checking)",
        description="Prints one JSON line per audited request in which MSISDN (any shape, or "
        "its SHA-256) was asked: request_id, ts, org, key_id, endpoint, as_of, "
        "and the answers given at its positions. Never prints the number.",
    )
    ka.add_argument("msisdn", metavar="MSISDN")
    ka.add_argument("--org", help="only requests of this organisation: its org_id or a key's NAME")
    ka.add_argument("--home", default=argparse.SUPPRESS)
    ka.set_defaults(func=_keys_audit)

    def _keys_usage(args) -> int:
        raise UsageError("keys: give an ACTION: create ORG | revoke KEY_ID | list | audit MSISDN")

    k.set_defaults(func=_keys_usage)
