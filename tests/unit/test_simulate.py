"""The simulator delivers what INTERCHANGE allows, exactly as its summary and truth say.

The files are read back here by a small reader written from INTERCHANGE alone (not the
simulator's code, not ingestion's), and fault-free lifecycles are replayed against RULES 1.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zlib
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from numlake.errors import UsageError
from numlake.msisdn import normalize
from numlake.simulate import simulate

SCALE, DAYS = 0.03, 40

ZH = {
    "事件编号": "event_id",
    "号码": "msisdn",
    "事件类型": "event_type",
    "事件时间": "event_time",
    "用户标识": "subscriber_id",
    "投诉编号": "complaint_id",
    "受理时间": "received_time",
    "投诉类别": "category",
    "涉及企业": "org_id",
    "处理状态": "status",
    "办结时间": "resolved_time",
    "处理结果": "resolution",
    "号段": "segment",
    "号段类型": "segment_type",
    "启用日期": "opened_date",
    "企业编号": "org_id",
    "企业名称": "org_name",
    "企业类型": "org_type",
    "加入日期": "joined_date",
    "支持状态": "status",
    "核验时间": "checked_time",
}
CANON = {
    "lifecycle": ["event_id", "msisdn", "event_type", "event_time", "subscriber_id"],
    "complaints": [
        "complaint_id",
        "received_time",
        "msisdn",
        "category",
        "org_id",
        "status",
        "resolved_time",
        "resolution",
    ],
    "segments": ["segment", "segment_type", "opened_date"],
    "orgs": ["org_id", "org_name", "org_type", "joined_date"],
    "adoption": ["org_id", "segment", "status", "checked_time"],
}
REQUIRED = {
    "lifecycle": ["event_id", "msisdn", "event_type", "event_time"],
    "complaints": ["complaint_id", "received_time", "msisdn", "category", "status"],
}
CODES_ZH = {
    "开户": "ACTIVATE",
    "停机": "SUSPEND",
    "复机": "RESUME",
    "保号": "KEEP",
    "销户": "CANCEL",
    "回收": "RECYCLE",
    "携出": "PORT_OUT",
    "携入": "PORT_IN",
    "二次号码": "SECONDARY_NUMBER",
    "号码标记": "MISMARKED",
    "验证码": "VERIFICATION_SMS",
    "其他": "OTHER",
    "处理中": "OPEN",
    "已办结": "RESOLVED",
}
EVENT_CODES = {"ACTIVATE", "SUSPEND", "RESUME", "KEEP", "CANCEL", "RECYCLE", "PORT_OUT", "PORT_IN"}
CATEGORY_CODES = {"SECONDARY_NUMBER", "MISMARKED", "VERIFICATION_SMS", "OTHER"}
TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$")
SLASH_RE = re.compile(r"^(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
SHAPES = {
    name: re.compile(rx)
    for name, rx in {
        "plain": r"^1\d{10}$",
        "+86": r"^\+861\d{10}$",
        "86": r"^861\d{10}$",
        "0086": r"^00861\d{10}$",
        "hyphens": r"^1\d\d-\d{4}-\d{4}$",
        "spaces": r"^1\d\d \d{4} \d{4}$",
        "+86 spaces": r"^\+86 1\d\d \d{4} \d{4}$",
    }.items()
}
FILE_RE = re.compile(r"^(?P<src>[A-Z0-9-]+)_(?P<feed>[a-z]+)_(?P<d>\d{8})_(?P<seq>\d{2})\.(csv|txt|jsonl)(\.gz)?$")


def parse_ts(s: str) -> datetime | None:
    """INTERCHANGE 2.3 timestamp -> naive CST, or None."""
    s = s.strip()
    m = TS_RE.match(s)
    try:
        if m:
            y, mo, d, h, mi, se, frac, off = m.groups()
            t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(se))
            if frac:
                t += timedelta(microseconds=round(float(frac) * 1e6))
            if off:
                if off == "Z":
                    mins = 0
                else:
                    sign = 1 if off[0] == "+" else -1
                    digits = off[1:].replace(":", "")
                    mins = sign * (int(digits[:2]) * 60 + int(digits[2:]))
                t = t - timedelta(minutes=mins) + timedelta(hours=8)
            return t
        for rx in (COMPACT_RE, SLASH_RE):
            m = rx.match(s)
            if m:
                return datetime(*map(int, m.groups()))
    except ValueError:
        return None
    return None


def code(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    return CODES_ZH.get(v, v.upper())


def read_records(path: Path, src: dict, feed: str) -> list[tuple[int, dict | None, str]]:
    """(line_no, record or None when malformed, raw) for every record of a data file."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode(src["encoding"])
    if text.startswith("\ufeff"):
        text = text[1:]
    out = []
    if src["format"] == "jsonl":
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                out.append((i, None, line))
                continue
            if not isinstance(obj, dict):
                out.append((i, None, line))
                continue
            rec = {ZH.get(k, k): (None if v in ("", None) else str(v)) for k, v in obj.items()}
            out.append((i, rec, line))
        return out
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=src["delimiter"])
    cols = CANON[feed]
    prev = 0
    first = True
    for row in reader:
        start = prev + 1
        prev = reader.line_num
        if not row:
            continue
        if first and src["header"] != "none":
            cols = [ZH.get(c, c) for c in row]
            first = False
            continue
        first = False
        if len(row) != len(cols):
            out.append((start, None, src["delimiter"].join(row)))
            continue
        out.append((start, {c: (v if v != "" else None) for c, v in zip(cols, row)}, src["delimiter"].join(row)))
    return out


def run(tmp: Path, faults: bool, scale=SCALE, days=DAYS, seed=5) -> tuple[Path, dict]:
    summary = simulate(
        tmp / "landing", tmp / "registry.yaml", start=date(2025, 3, 1), days=days, scale=scale, seed=seed, faults=faults
    )
    return tmp, summary


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    return run(tmp_path_factory.mktemp("faulty"), True, scale=0.05, days=60)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    # long enough for numbers to pass the 90-day freeze and be reassigned
    return run(tmp_path_factory.mktemp("clean"), False, scale=0.03, days=100)


def registry(home: Path) -> dict:
    return {s["id"]: s for s in yaml.safe_load((home / "registry.yaml").read_text(encoding="utf-8"))["sources"]}


def truth(home: Path, name: str) -> list[dict]:
    return pq.read_table(home / "simulation_truth" / f"{name}.parquet").to_pylist()


def data_files(landing: Path):
    for p in sorted(landing.glob("*/*/*")):
        if not p.name.endswith(".ctl"):
            yield p


def test_the_registry_has_every_dialect_value_at_several_sources(clean):
    home, _ = clean
    reg = registry(home)
    src = list(reg.values())
    assert 100 <= len(src) <= 110
    kinds = Counter(s["kind"] for s in src)
    assert kinds["mvno"] >= 40 and kinds["portal"] == 1
    for carrier in ("CM", "CT"):
        provinces = {s["province"] for s in src if s["carrier"] == carrier and s["kind"] == "carrier"}
        assert len(provinces) == 31 and "NAT" not in provinces
    assert {"CU-NAT", "CBN-NAT", "PORTAL"} <= {s["id"] for s in src}
    allowed = {
        "format": {"csv", "jsonl"},
        "encoding": {"utf-8", "gb18030"},
        "delimiter": {",", "|", "\t"},
        "header": {"en", "zh", "none"},
        "codes": {"en", "zh"},
        "time_format": {"iso", "compact", "slash"},
        "compression": {"none", "gzip"},
    }
    for field, values in allowed.items():
        pool = [s for s in src if field != "delimiter" or s["format"] == "csv"]
        used = Counter(s[field] for s in pool)
        assert set(used) == values, field
        assert min(used.values()) >= 3, (field, used)
    assert all(s["format"] == "csv" for s in src if s["header"] == "none")
    assert all(re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)*", s["id"]) for s in src)


def test_every_control_file_matches_its_data_file_when_faults_are_off(clean):
    home, _ = clean
    reg = registry(home)
    n = 0
    for p in data_files(home / "landing"):
        ctl = json.loads((p.parent / (p.name + ".ctl")).read_bytes())
        m = FILE_RE.match(p.name)
        assert m and m["src"] == p.parts[-3] and m["feed"] == p.parts[-2]
        assert ctl["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
        assert ctl["business_date"] == f"{m['d'][:4]}-{m['d'][4:6]}-{m['d'][6:]}"
        recs = read_records(p, reg[m["src"]], m["feed"])
        assert ctl["rows"] == len(recs)
        assert all(r is not None for _, r, _ in recs), p.name
        n += 1
    assert n > 100


def test_every_quarantined_file_really_has_its_fault(faulty):
    home, summary = faulty
    reg = registry(home)
    files = truth(home, "file_loads")
    seen = Counter()
    for f in files:
        p = home / "landing" / f["path"]
        assert p.is_file()
        ctl_path = p.parent / (p.name + ".ctl")
        if f["outcome"] == "PENDING":
            assert not ctl_path.exists()
            assert (home / "landing_redeliveries" / (f["path"] + ".ctl")).is_file()
            seen["PENDING"] += 1
            continue
        raw_ctl = ctl_path.read_bytes()
        if f["outcome"] != "QUARANTINED":
            ctl = json.loads(raw_ctl)
            assert ctl["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
            src = reg[f["source_id"]]
            assert ctl["rows"] == len(read_records(p, src, f["feed"]))
            seen[f["outcome"]] += 1
            continue
        reason = f["reason"]
        seen[reason] += 1
        if reason == "unknown_source":
            assert f["source_id"] not in reg
            continue
        src = reg[f["source_id"]]
        if reason == "bad_control":
            try:
                ctl = json.loads(raw_ctl)
            except ValueError:
                continue
            assert ctl["business_date"] != f["business_date"].isoformat()
            continue
        ctl = json.loads(raw_ctl)
        md5_ok = ctl["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
        if reason == "checksum_mismatch":
            assert not md5_ok
            continue
        assert md5_ok, reason
        if reason == "unreadable":
            with pytest.raises((OSError, EOFError, zlib.error)):
                gzip.decompress(p.read_bytes())
        elif reason == "encoding_error":
            data = p.read_bytes()
            data = gzip.decompress(data) if p.name.endswith(".gz") else data
            with pytest.raises(UnicodeDecodeError):
                data.decode(src["encoding"])
        elif reason == "row_count_mismatch":
            assert ctl["rows"] != len(read_records(p, src, f["feed"]))
        elif reason == "bad_header":
            data = p.read_bytes()
            data = gzip.decompress(data) if p.name.endswith(".gz") else data
            header = data.decode(src["encoding"]).lstrip("\ufeff").splitlines()[0].split(src["delimiter"])
            assert not set(REQUIRED[f["feed"]]) <= {ZH.get(h, h) for h in header}
    outcomes = summary["files"]["outcomes"]
    assert seen["LOADED"] == outcomes["LOADED"] and seen["SUPERSEDED"] == outcomes["SUPERSEDED"] > 0
    assert seen["PENDING"] == outcomes["PENDING"] > 0
    for reason, n in outcomes["QUARANTINED"].items():
        assert seen[reason] == n > 0, reason
    assert set(outcomes["QUARANTINED"]) == {
        "checksum_mismatch",
        "row_count_mismatch",
        "encoding_error",
        "bad_header",
        "bad_control",
        "unreadable",
        "unknown_source",
    }
    later = home / "landing_redeliveries"
    redelivered = [p for p in later.glob("*/*/*") if not p.name.endswith(".ctl")]
    conflicting = [p for p in redelivered if p.read_bytes() != (home / "landing" / p.relative_to(later)).read_bytes()]
    assert len(conflicting) == summary["later_deliveries"]["conflicting_redelivery"] > 0
    assert len(redelivered) - len(conflicting) == summary["later_deliveries"]["identical_redelivery"] > 0


def _reject_reason(rec: dict | None, feed: str, business_date: date) -> str | None:
    """The first reason of INTERCHANGE 4 that applies to a record (duplicates checked by the caller)."""
    if rec is None:
        return "malformed_row"
    req = REQUIRED[feed] + (
        ["subscriber_id"] if feed == "lifecycle" and code(rec.get("event_type")) in ("ACTIVATE", "PORT_IN") else []
    )
    if feed == "complaints" and code(rec.get("status")) == "RESOLVED":
        req = req + ["resolved_time", "resolution"]
    if any(rec.get(c) in (None, "") or str(rec.get(c)).strip() == "" for c in req):
        return "missing_field"
    if normalize(rec["msisdn"]) is None:
        return "invalid_msisdn"
    if feed == "lifecycle" and code(rec["event_type"]) not in EVENT_CODES:
        return "invalid_code"
    if feed == "complaints" and code(rec["category"]) not in CATEGORY_CODES:
        return "invalid_code"
    times = ["event_time"] if feed == "lifecycle" else ["received_time", "resolved_time"]
    parsed = [parse_ts(rec[c]) for c in times if rec.get(c)]
    if any(t is None for t in parsed):
        return "invalid_time"
    limit = datetime.combine(business_date + timedelta(days=2), datetime.min.time())
    if any(t >= limit for t in parsed):
        return "time_after_business_date"
    return None


def test_every_record_rejection_the_truth_lists_is_in_the_files_and_nothing_else_is(faulty):
    home, summary = faulty
    reg = registry(home)
    expected = {(r["file_name"], r["line_no"]): r["reason"] for r in truth(home, "rejected_records")}
    found = {}
    seen_ids: dict[str, set] = defaultdict(set)
    loaded = sorted(
        (f for f in truth(home, "file_loads") if f["outcome"] == "LOADED" and f["feed"] in REQUIRED),
        key=lambda f: (f["business_date"], f["seq"], f["file_name"]),
    )
    for f in loaded:
        p = home / "landing" / f["path"]
        for line_no, rec, _ in read_records(p, reg[f["source_id"]], f["feed"]):
            why = _reject_reason(rec, f["feed"], f["business_date"])
            if why is None and f["feed"] == "lifecycle":
                eid = rec["event_id"].strip()
                if eid in seen_ids[f["source_id"]]:
                    why = "duplicate_id"
                seen_ids[f["source_id"]].add(eid)
            if why:
                found[(f["file_name"], line_no)] = why
    assert found == expected
    assert Counter(expected.values()) == Counter(summary["records"]["rejected"])
    assert set(summary["records"]["rejected"]) == {
        "malformed_row",
        "missing_field",
        "invalid_msisdn",
        "invalid_code",
        "invalid_time",
        "time_after_business_date",
        "duplicate_id",
    }


def lifecycle_events(home: Path) -> list[tuple]:
    """Every lifecycle record of every LOADED file, parsed independently: (msisdn, type, time, source, id, sub)."""
    reg = registry(home)
    rejected = {(r["file_name"], r["line_no"]) for r in truth(home, "rejected_records")}
    out = []
    for f in truth(home, "file_loads"):
        if f["outcome"] != "LOADED" or f["feed"] != "lifecycle":
            continue
        for line_no, rec, _ in read_records(home / "landing" / f["path"], reg[f["source_id"]], "lifecycle"):
            if (f["file_name"], line_no) in rejected:
                continue
            out.append(
                (
                    normalize(rec["msisdn"]),
                    code(rec["event_type"]),
                    parse_ts(rec["event_time"]),
                    f["source_id"],
                    rec["event_id"].strip(),
                    (rec.get("subscriber_id") or "").strip() or None,
                )
            )
    return out


def check_rules(events: list[tuple], as_of: date) -> tuple[Counter, list]:
    """RULES 1-2, replayed per number. Returns (findings per rule, (msisdn, start, subscriber) per tenure)."""
    prio = {"PORT_OUT": 0, "PORT_IN": 2}
    by_num = defaultdict(list)
    for e in events:
        by_num[e[0]].append(e)
    findings, tenures = Counter(), []
    end_of_as_of = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    for evs in by_num.values():
        evs.sort(key=lambda e: (e[2], prio.get(e[1], 1), e[3], e[4]))
        state, holder, susp_at, last_end, last_holder = None, None, None, None, None
        for num, typ, t, _, _, sub in evs:
            if typ == "ACTIVATE":
                if state:
                    findings["INVALID_TRANSITION"] += 1
                    if sub != holder:
                        tenures.append((num, t, sub))
                        state, holder = "ACTIVE", sub
                    continue
                if last_end and sub != last_holder and t - last_end < timedelta(days=90):
                    findings["COOLING_VIOLATION"] += 1
                state, holder = "ACTIVE", sub
                tenures.append((num, t, sub))
            elif typ == "PORT_IN":
                if not state:
                    state, holder = "ACTIVE", sub
                    tenures.append((num, t, sub))
            elif typ == "PORT_OUT":
                if not state:
                    findings["INVALID_TRANSITION"] += 1
            elif typ == "RECYCLE":
                if not state:
                    findings["INVALID_TRANSITION"] += 1
                    continue
                if state != "SUSPENDED" or t - susp_at < timedelta(days=90):
                    findings["PREMATURE_RECYCLE"] += 1
                state, last_end, last_holder = None, t, holder
            elif typ == "CANCEL":
                if not state:
                    findings["INVALID_TRANSITION"] += 1
                    continue
                state, last_end, last_holder = None, t, holder
            elif typ == "SUSPEND":
                if state != "ACTIVE":
                    findings["INVALID_TRANSITION"] += 1
                    continue
                state, susp_at = "SUSPENDED", t
            elif typ == "KEEP":
                if state not in ("ACTIVE", "SUSPENDED"):
                    findings["INVALID_TRANSITION"] += 1
                    continue
                state = "KEPT"
            elif typ == "RESUME":
                if state not in ("SUSPENDED", "KEPT"):
                    findings["INVALID_TRANSITION"] += 1
                    continue
                state = "ACTIVE"
        if state == "SUSPENDED" and end_of_as_of - susp_at > timedelta(days=180):
            findings["IDLE_SUSPENDED"] += 1
    return findings, tenures


def test_fault_free_lifecycles_raise_no_rule_finding_and_match_the_truth_tenures(clean):
    home, summary = clean
    events = lifecycle_events(home)
    assert len(events) == summary["records"]["lifecycle_loaded"]
    assert all(e[0] and e[2] for e in events)
    findings, tenures = check_rules(events, date.fromisoformat(summary["as_of"]))
    assert findings == Counter()
    ten = truth(home, "tenures")
    assert len(tenures) == len(ten) == summary["population"]["tenures"]
    assert sorted(tenures) == sorted((r["msisdn"], r["start_time"], r["subscriber_id"]) for r in ten)
    assert summary["rule_findings_expected"] == {}
    assert any(t["is_reassignment"] for t in ten)
    kinds = Counter(e[1] for e in events)
    assert set(kinds) == {"ACTIVATE", "SUSPEND", "RESUME", "KEEP", "CANCEL", "RECYCLE", "PORT_OUT", "PORT_IN"}


def test_injected_rule_breaking_is_found_by_an_independent_replay(faulty):
    home, summary = faulty
    findings, _ = check_rules(lifecycle_events(home), date.fromisoformat(summary["as_of"]))
    assert dict(findings) == summary["rule_findings_expected"]
    assert len(truth(home, "rule_findings")) == sum(findings.values())
    for rule, n in summary["rule_findings_injected"].items():
        assert findings[rule] >= n, rule
    assert all(n > 0 for n in summary["rule_findings_injected"].values()), summary["rule_findings_injected"]
    assert set(summary["rule_findings_injected"]) == {
        "PREMATURE_RECYCLE",
        "COOLING_VIOLATION",
        "IDLE_SUSPENDED",
        "INVALID_TRANSITION",
    }


def test_the_first_lifecycle_delivery_of_each_source_is_an_onboarding_snapshot(clean):
    home, _ = clean
    reg = registry(home)
    for sid, src in reg.items():
        if src["kind"] == "portal":
            continue
        first = sorted(
            p
            for p in (home / "landing" / sid / "lifecycle").glob(f"{sid}_lifecycle_*_01.*")
            if not p.name.endswith(".ctl")
        )[0]
        bd = datetime.strptime(first.name.split("_")[2], "%Y%m%d")
        recs = [r for _, r, _ in read_records(first, src, "lifecycle")]
        acts = [r for r in recs if code(r["event_type"]) == "ACTIVATE"]
        assert len({normalize(r["msisdn"]) for r in acts}) == len(acts) > 0, sid
        assert {code(r["event_type"]) for r in recs} <= {"ACTIVATE", "SUSPEND", "KEEP"}
        assert all(parse_ts(r["event_time"]) < bd + timedelta(days=1) for r in recs)
        assert min(parse_ts(r["event_time"]) for r in acts) < bd - timedelta(days=365)


def test_deliveries_use_every_shape_and_variant_the_spec_allows(faulty):
    home, _ = faulty
    reg = registry(home)
    shapes, time_forms, raw_bytes = Counter(), Counter(), Counter()
    zero_record_files, multi_line_fields = 0, 0
    for p in data_files(home / "landing"):
        m = FILE_RE.match(p.name)
        if not m or m["src"] not in reg:
            continue
        src = reg[m["src"]]
        data = p.read_bytes()
        try:
            data = gzip.decompress(data) if p.name.endswith(".gz") else data
            text = data.decode(src["encoding"])
        except (OSError, EOFError, zlib.error, UnicodeDecodeError):
            continue
        raw_bytes["bom"] += text.startswith("\ufeff")
        raw_bytes["crlf"] += "\r\n" in text
        if m["feed"] == "orgs":
            multi_line_fields += sum("\n" in (r or {}).get("org_name", "") for _, r, _ in read_records(p, src, "orgs"))
        if m["feed"] not in ("lifecycle", "complaints"):
            continue
        recs = read_records(p, src, m["feed"])
        zero_record_files += not recs
        for _, r, _ in recs:
            if not r or not r.get("msisdn"):
                continue
            s = r["msisdn"]
            shapes[next((k for k, rx in SHAPES.items() if rx.match(s)), "other")] += 1
            t = r.get("event_time") or r.get("received_time") or ""
            tm = TS_RE.match(t.strip())
            if tm:
                time_forms["iso_fraction"] += bool(tm.group(7))
                time_forms[f"iso_offset{tm.group(8)}"] += 1
                time_forms["iso_space"] += " " in t.strip()
            elif COMPACT_RE.match(t):
                time_forms["compact"] += 1
            elif SLASH_RE.match(t):
                time_forms["slash"] += 1
    assert set(SHAPES) <= set(shapes)
    for form in (
        "iso_fraction",
        "iso_offsetZ",
        "iso_offset+08:00",
        "iso_offset-0500",
        "iso_offsetNone",
        "iso_space",
        "compact",
        "slash",
    ):
        assert time_forms[form] > 0, form
    assert raw_bytes["bom"] > 0 and raw_bytes["crlf"] > 0
    assert zero_record_files > 0
    assert multi_line_fields > 0


def test_complaints_are_re_reported_with_the_same_id_when_they_change(faulty):
    home, summary = faulty
    reg = registry(home)
    states = defaultdict(list)
    for f in truth(home, "file_loads"):
        if f["outcome"] == "LOADED" and f["feed"] == "complaints":
            for _, r, _ in read_records(home / "landing" / f["path"], reg[f["source_id"]], "complaints"):
                if r and r.get("complaint_id"):
                    states[(f["source_id"], r["complaint_id"].strip())].append(code(r["status"]))
    assert any(s[0] == "OPEN" and s[-1] == "RESOLVED" for s in states.values())
    cats = summary["complaints"]["by_category"]
    assert set(cats) == {"SECONDARY_NUMBER", "MISMARKED", "VERIFICATION_SMS", "OTHER"}


def test_the_same_arguments_give_byte_identical_output(tmp_path):
    def tree(root: Path) -> dict:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a, _ = run(tmp_path / "a", True, scale=0.01, days=12)
    b, _ = run(tmp_path / "b", True, scale=0.01, days=12)
    ta, tb = tree(a), tree(b)
    assert len(ta) > 500
    assert ta.keys() == tb.keys()
    assert [k for k in ta if ta[k] != tb[k]] == []
    c, _ = run(tmp_path / "c", True, scale=0.01, days=12, seed=6)
    assert tree(c) != ta


def test_simulate_refuses_a_landing_folder_it_did_not_make_and_replaces_its_own(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "CM-GD").mkdir()
    with pytest.raises(UsageError, match="not empty"):
        simulate(landing, tmp_path / "registry.yaml", days=3, scale=0.005)
    empty = tmp_path / "other" / "landing"
    simulate(empty, tmp_path / "other" / "registry.yaml", days=3, scale=0.005)
    stale = empty / "CM-GD" / "lifecycle" / "stale.csv"
    stale.write_text("x")
    simulate(empty, tmp_path / "other" / "registry.yaml", days=3, scale=0.005)
    assert not stale.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--days", "0"], "--days"),
        (["--scale", "-1"], "--scale"),
        (["--start", "2025-13-01"], "--start"),
        (["--faults", "maybe"], "--faults"),
        (["--seed", "x"], "--seed"),
    ],
)
def test_bad_arguments_are_one_line_errors_with_exit_2(tmp_path, capsys, argv, message):
    from numlake.cli import main

    assert main(["simulate", "--home", str(tmp_path)] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
