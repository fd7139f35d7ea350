"""The simulator's RULES replay (the ground truth it publishes) agrees with the spec's samples.

`tests/fixtures/samples/expected.json` was worked out by an independent implementation of
RULES; if the simulator's replay disagreed with it, every truth file it writes would mislead.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml
from test_simulate import code, parse_ts, read_records  # the independent INTERCHANGE reader

from numlake.msisdn import normalize
from numlake.simulate.model import EVENT_TYPES
from numlake.simulate.truth import replay

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
REGISTRY = Path(__file__).resolve().parents[1] / "fixtures" / "samples_registry.yaml"
MS = np.datetime64("1970-01-01T00:00:00", "ms")


def _ms(t: datetime) -> int:
    return int((np.datetime64(t, "ms") - MS).astype(np.int64))


def _replay(events: list[tuple], as_of: str):
    ms, ty, tt, src, eid, sub = zip(*events)
    end = _ms(datetime.fromisoformat(as_of)) + 86_400_000
    return replay(
        np.array([int(m) for m in ms], np.int64),
        np.array([EVENT_TYPES.index(t) for t in ty], np.int8),
        np.array([_ms(t) for t in tt], np.int64),
        list(src),
        list(eid),
        list(sub),
        end,
    )


def _fmt(ms: int | None) -> str | None:
    return None if ms is None else str(np.datetime64(ms, "ms").astype("datetime64[s]")).replace("T", " ")


def test_the_replay_gives_the_tenures_and_findings_of_the_spec_samples():
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    reg = {s["id"]: s for s in yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))["sources"]}
    loaded = [f for f in expected["file_loads"] if f["outcome"] == "LOADED" and f["feed"] == "lifecycle"]
    events = []
    for f in loaded:
        path = SAMPLES / f["source_id"] / "lifecycle" / f["file_name"]
        for _, rec, _ in read_records(path, reg[f["source_id"]], "lifecycle"):
            num = normalize(rec["msisdn"])
            if num is None:  # the one invalid_msisdn record of the samples
                continue
            events.append(
                (
                    num,
                    code(rec["event_type"]),
                    parse_ts(rec["event_time"]),
                    f["source_id"],
                    rec["event_id"],
                    rec.get("subscriber_id"),
                )
            )
    ten, fnd = _replay(events, expected["as_of"])
    got_tenures = sorted(
        (
            {
                "msisdn": str(ten["msisdn"][i]),
                "tenure_seq": ten["tenure_seq"][i],
                "subscriber_id": ten["subscriber_id"][i],
                "start_time": _fmt(ten["start_time"][i]),
                "end_time": _fmt(ten["end_time"][i]),
                "end_reason": ten["end_reason"][i],
                "start_source_id": ten["start_source_id"][i],
                "is_reassignment": ten["is_reassignment"][i],
            }
            for i in range(len(ten["msisdn"]))
        ),
        key=lambda r: r["msisdn"],
    )
    assert got_tenures == sorted(expected["number_tenures"], key=lambda r: r["msisdn"])
    got_findings = sorted(
        (r, str(m), s, e, _fmt(t))
        for r, m, s, e, t in zip(fnd["rule"], fnd["msisdn"], fnd["source_id"], fnd["event_id"], fnd["event_time"])
    )
    assert got_findings == sorted(
        (f["rule"], f["msisdn"], f["source_id"], f["event_id"], f["event_time"]) for f in expected["rule_findings"]
    )


def test_the_replay_closes_a_tenure_implicitly_and_ends_it_on_a_premature_recycle():
    t = datetime.fromisoformat
    n = "13800000001"
    events = [
        (n, "ACTIVATE", t("2025-01-01 10:00:00"), "CM-GD", "e1", "a"),
        (n, "ACTIVATE", t("2025-01-02 10:00:00"), "CM-GD", "e2", "a"),  # same holder: finding, no change
        (n, "ACTIVATE", t("2025-01-03 10:00:00"), "CM-GD", "e3", "b"),  # other holder: IMPLICIT end
        (n, "SUSPEND", t("2025-01-04 10:00:00"), "CM-GD", "e4", None),
        (n, "RECYCLE", t("2025-02-04 10:00:00"), "CM-GD", "e5", None),  # 31 days: premature, still ends
        (n, "ACTIVATE", t("2025-03-01 10:00:00"), "CM-GD", "e6", "c"),  # within the freeze
        (n, "PORT_IN", t("2025-03-05 10:00:00"), "CT-GD", "e8", "c"),
        (n, "PORT_OUT", t("2025-03-05 10:00:00"), "CM-GD", "e7", "c"),  # sorts before PORT_IN
    ]
    ten, fnd = _replay(events, "2025-03-31")
    assert ten["subscriber_id"] == ["a", "b", "c"]
    assert ten["end_reason"] == ["IMPLICIT", "RECYCLE", None]
    assert ten["is_reassignment"] == [False, True, True]
    assert list(zip(fnd["rule"], fnd["event_id"])) == [
        ("INVALID_TRANSITION", "e2"),
        ("INVALID_TRANSITION", "e3"),
        ("PREMATURE_RECYCLE", "e5"),
        ("COOLING_VIOLATION", "e6"),
    ]
