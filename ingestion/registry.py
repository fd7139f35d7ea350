"""The source registry: the one place that says who delivers and in which dialect.

INTERCHANGE 1.1: onboarding a source is an edit of this YAML file and nothing else, so the
file is validated strictly. A registry with a missing field, an unknown value, an id that
does not match the pattern, a duplicate id or ``header: none`` with jsonl is refused with a
one-line :class:`~numlake.errors.UsageError` naming the entry and the field, before any
delivery is touched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from ingestion.feeds import DAILY_FEEDS
from ingestion.pull.config import check_pull_entry
from numlake.errors import UsageError
from numlake.msisdn import BARE_NUMBER_RE, masked_logger
from numlake.paths import MISSING, path_problem

log = masked_logger("numlake.registry")
ID_RE = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")

PROVINCES = frozenset(
    "BJ TJ HE SX NM LN JL HL SH JS ZJ AH FJ JX SD HA HB HN GD GX HI CQ SC GZ YN XZ SN GS QH NX XJ NAT".split()
)

# field -> allowed values (None: free text). Order is the order of INTERCHANGE 1.1.
ALLOWED: dict[str, frozenset[str] | None] = {
    "id": None,
    "name": None,
    "kind": frozenset({"carrier", "mvno", "portal"}),
    "carrier": frozenset({"CM", "CU", "CT", "CBN", "none"}),
    "province": PROVINCES,
    "format": frozenset({"csv", "jsonl"}),
    "encoding": frozenset({"utf-8", "gb18030"}),
    "delimiter": frozenset({",", "|", "\t"}),
    "header": frozenset({"en", "zh", "none"}),
    "codes": frozenset({"en", "zh"}),
    "time_format": frozenset({"iso", "compact", "slash"}),
    "compression": frozenset({"none", "gzip"}),
}

FEEDS_BY_KIND = {
    "carrier": ("lifecycle", "complaints", "segments"),
    "mvno": ("lifecycle", "complaints", "segments"),
    "portal": ("orgs", "adoption"),
}


def feed_map() -> list[dict]:
    """INTERCHANGE 1 and 2.2 as rows (kind, feed, is_daily): what each kind of source delivers and
    which feeds are owed every business date. Ingestion exports it to the lake
    (``_meta/feeds.parquet``) so that dbt reads the rule instead of writing it again."""
    return [
        {"kind": kind, "feed": feed, "is_daily": feed in DAILY_FEEDS}
        for kind, feeds in FEEDS_BY_KIND.items()
        for feed in feeds
    ]


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    kind: str
    carrier: str
    province: str
    format: str
    encoding: str
    delimiter: str
    header: str
    codes: str
    time_format: str
    compression: str

    @property
    def feeds(self) -> tuple[str, ...]:
        """Feeds this kind of source delivers (INTERCHANGE 1); other feed folders are refused."""
        return FEEDS_BY_KIND[self.kind]

    @property
    def fingerprint(self) -> str:
        """Hash of what decides whether a delivery can be read: its dialect, and the kind (which
        feeds the source delivers). A quarantined delivery is re-examined when it changes."""
        keys = ("kind", "format", "encoding", "delimiter", "header", "compression")
        text = "\x1f".join(f"{k}={getattr(self, k)}" for k in keys)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def as_row(self) -> dict[str, str]:
        d = asdict(self)
        d["source_id"] = d.pop("id")
        return d


FIELD_NAMES = tuple(f.name for f in fields(Source))


def _entry_label(index: int, entry: object) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
        return f"sources[{index}] (id {entry['id']})"
    return f"sources[{index}]"


def _check_value(field: str, value: object, label: str, where: str) -> str:
    if value is None:
        raise UsageError(f"{where}: {label}: field '{field}' is empty")
    if field == "delimiter" and value == "\\t":
        value = "\t"  # an unquoted YAML \t arrives as two characters; it can only mean tab
    if not isinstance(value, str):
        raise UsageError(f"{where}: {label}: field '{field}' must be text, got {value!r}")
    allowed = ALLOWED[field]
    if field == "id":
        if not ID_RE.match(value):
            raise UsageError(f"{where}: {label}: field 'id' {value!r} does not match [A-Z0-9]+(-[A-Z0-9]+)*")
        if BARE_NUMBER_RE.search(value):  # every page, log line and message masks such a number (RULES 7)
            raise UsageError(
                f"{where}: {label}: field 'id' holds a mobile number, which no page or message may show: "
                "choose another id"
            )
    elif field == "name":
        if not value.strip():
            raise UsageError(f"{where}: {label}: field 'name' is empty")
    elif value not in allowed:
        shown = " | ".join(sorted(repr(a) if a == "\t" else a for a in allowed))
        raise UsageError(f"{where}: {label}: field '{field}' has unknown value {value!r} (expected {shown})")
    return value


class _Mapping(dict):
    """A YAML mapping as read, with the keys it gave more than once (the last would win)."""

    twice: tuple = ()


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when present
    def construct_mapping(self, node, deep=False):
        seen, twice = set(), []
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen and key not in twice:
                twice.append(key)
            seen.add(key)
        out = _Mapping(super().construct_mapping(node, deep=deep))
        out.twice = tuple(twice)
        return out

    def construct_yaml_map(self, node):
        data = _Mapping()
        yield data
        value = self.construct_mapping(node)
        data.update(value)
        data.twice = value.twice


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)


def _given_twice(mapping: object) -> str | None:
    twice = getattr(mapping, "twice", ())
    return f"field {str(twice[0])!r} is given twice (only one value can hold)" if twice else None


def parse_registry(data: object, where: str = "registry") -> dict[str, Source]:
    """Validate an already-parsed registry document; see :func:`load_registry`."""
    if not isinstance(data, dict) or "sources" not in data:
        raise UsageError(f"{where}: expected a mapping with a 'sources' list")
    if twice := _given_twice(data):
        raise UsageError(f"{where}: {twice.replace('field', 'key', 1)}")
    entries = data["sources"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise UsageError(f"{where}: 'sources' must be a list")
    if not entries:  # a truncated file would refuse every delivery as unknown_source
        raise UsageError(f"{where}: 'sources' lists no source (an empty or truncated registry?)")
    out: dict[str, Source] = {}
    for i, entry in enumerate(entries):
        label = _entry_label(i, entry)
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: {label}: expected a mapping of fields")
        if twice := _given_twice(entry):
            raise UsageError(f"{where}: {label}: {twice}")
        for name in FIELD_NAMES:
            if name not in entry:
                raise UsageError(f"{where}: {label}: missing field '{name}'")
        values = {name: _check_value(name, entry[name], label, where) for name in FIELD_NAMES}
        if values["header"] == "none" and values["format"] != "csv":
            raise UsageError(f"{where}: {label}: field 'header' 'none' is only valid for format csv")
        if values["kind"] == "portal" and values["carrier"] != "none":
            raise UsageError(f"{where}: {label}: field 'carrier' must be 'none' for a portal")
        if values["kind"] != "portal" and values["carrier"] == "none":
            raise UsageError(f"{where}: {label}: field 'carrier' must name a carrier for kind {values['kind']}")
        if values["id"] in out:
            raise UsageError(f"{where}: {label}: field 'id' duplicates an earlier entry")
        if "pull" in entry:  # INTERCHANGE 5: the one optional field, checked by pull mode's own module
            check_pull_entry(entry["pull"], label, where)
        if extra := sorted(str(k) for k in entry if k not in FIELD_NAMES and k != "pull"):
            # not refused (INTERCHANGE 1.1 refuses missing fields, unknown values, duplicate ids),
            # but said: a misspelt `pull` would quietly make a pull source an uploading one
            _say_once(f"{where}: {label}: unknown field {', '.join(map(repr, extra))} ignored")
        out[values["id"]] = Source(**values)
    return out


_said: set[str] = set()  # a run loads the registry in several steps: each warning once per process


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)


def load_registry(path: str | Path) -> dict[str, Source]:
    """Read and validate the registry at `path`; returns sources by id in file order."""
    p = Path(path)
    where = f"registry {p}"
    problem = path_problem(p, "file")
    if problem:  # a directory, a FIFO, a path below a file... is named as what it is
        raise UsageError(f"{where}: {'file not found' if problem == MISSING else problem}")
    try:
        # libyaml's parser when present: the pure-Python one takes ~0.15 s for 106 sources
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{where}: invalid YAML{at}: {getattr(e, 'problem', None) or e}".replace("\n", " ")) from None
    return parse_registry(data, where)


def check_selected_sources(registry: dict[str, Source], landing: Path, sources: Iterable[str]) -> None:
    """A `--source` selection names sources of the registry or folders of the landing area
    (an unregistered folder is ingested as `unknown_source`); anything else is a usage error,
    raised before a run starts."""
    unknown = sorted(s for s in set(sources) if s not in registry and not (Path(landing) / s).is_dir())
    if unknown:
        raise UsageError(f"unknown source {unknown[0]!r}: not in the registry and no folder in {landing}")
