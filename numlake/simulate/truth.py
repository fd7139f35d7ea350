"""Ground truth: RULES 1 and 2 replayed over exactly the lifecycle records that load.

This is the simulator's own reading of RULES, written from the spec and independent of the
dbt models, so the marts can be compared with it (`simulation_truth/*.parquet`).
"""

from __future__ import annotations

import numpy as np

MS_DAY = 86_400_000
NINETY = 90 * MS_DAY
IDLE = 180 * MS_DAY
ACTIVATE, SUSPEND, RESUME, KEEP, CANCEL, RECYCLE, PORT_OUT, PORT_IN = range(8)
NONE, ACTIVE, SUSPENDED, KEPT = 0, 1, 2, 3


def replay(
    msisdn: np.ndarray,
    etype: np.ndarray,
    t: np.ndarray,
    src: list[str],
    event_id: list[str],
    sub: list[str | None],
    as_of_end_ms: int,
) -> tuple[dict, dict]:
    """Merge events per number (RULES 1 order) and return (tenures, findings) as column dicts.

    Order: event time; at equal times PORT_OUT before PORT_IN (other events between them);
    then source id, then event id.
    """
    n = len(msisdn)
    src_a = np.array(src, dtype=object)
    eid_a = np.array(event_id, dtype=object)
    # ranks of strings for lexsort
    src_rank = np.unique(src_a, return_inverse=True)[1] if n else np.zeros(0, np.int64)
    eid_rank = np.unique(eid_a, return_inverse=True)[1] if n else np.zeros(0, np.int64)
    prio = np.where(etype == PORT_OUT, 0, np.where(etype == PORT_IN, 2, 1))
    order = np.lexsort((eid_rank, src_rank, prio, t, msisdn))
    ms_l = msisdn[order].tolist()
    ty_l = etype[order].tolist()
    t_l = t[order].tolist()
    src_l = src_a[order].tolist()
    eid_l = eid_a[order].tolist()
    sub_l = [sub[i] for i in order.tolist()]

    ten = {
        "msisdn": [],
        "tenure_seq": [],
        "subscriber_id": [],
        "start_time": [],
        "end_time": [],
        "end_reason": [],
        "start_source_id": [],
        "is_reassignment": [],
    }
    fnd = {"rule": [], "msisdn": [], "source_id": [], "event_id": [], "event_time": []}

    def finding(rule, i):
        fnd["rule"].append(rule)
        fnd["msisdn"].append(ms_l[i])
        fnd["source_id"].append(src_l[i])
        fnd["event_id"].append(eid_l[i])
        fnd["event_time"].append(t_l[i])

    cur = None
    state = NONE
    seq = 0
    open_idx = -1  # index into ten lists of the open tenure
    last_end = None
    last_sub = None
    prev_sub = None  # subscriber of the previous tenure, for is_reassignment
    susp_i = -1

    def close(now, reason):
        nonlocal state, open_idx, last_end, last_sub
        ten["end_time"][open_idx] = now
        ten["end_reason"][open_idx] = reason
        last_end = now
        last_sub = ten["subscriber_id"][open_idx]
        state = NONE
        open_idx = -1

    def start(i, s):
        nonlocal state, open_idx, seq, prev_sub
        seq += 1
        ten["msisdn"].append(ms_l[i])
        ten["tenure_seq"].append(seq)
        ten["subscriber_id"].append(s)
        ten["start_time"].append(t_l[i])
        ten["end_time"].append(None)
        ten["end_reason"].append(None)
        ten["start_source_id"].append(src_l[i])
        ten["is_reassignment"].append(seq >= 2 and s != prev_sub)
        prev_sub = s
        open_idx = len(ten["msisdn"]) - 1
        state = ACTIVE

    def idle_check():
        if state == SUSPENDED and susp_i >= 0 and as_of_end_ms - t_l[susp_i] > IDLE:
            finding("IDLE_SUSPENDED", susp_i)

    for i in range(len(ms_l)):
        m = ms_l[i]
        if m != cur:
            if cur is not None:
                idle_check()
            cur, state, seq, open_idx, last_end, last_sub, prev_sub, susp_i = m, NONE, 0, -1, None, None, None, -1
        e, now = ty_l[i], t_l[i]
        is_open = state != NONE
        if e == ACTIVATE:
            s = sub_l[i]
            if is_open:
                finding("INVALID_TRANSITION", i)
                if s != ten["subscriber_id"][open_idx]:
                    close(now, "IMPLICIT")
                    start(i, s)
            else:
                if last_end is not None and s != last_sub and now - last_end < NINETY:
                    finding("COOLING_VIOLATION", i)
                start(i, s)
        elif e == PORT_IN:
            if not is_open:
                start(i, sub_l[i])
        elif e == PORT_OUT:
            if not is_open:
                finding("INVALID_TRANSITION", i)
        elif e == RECYCLE:
            if not is_open:
                finding("INVALID_TRANSITION", i)
            else:
                if state != SUSPENDED or now - t_l[susp_i] < NINETY:
                    finding("PREMATURE_RECYCLE", i)
                close(now, "RECYCLE")
        elif e == CANCEL:
            if is_open:
                close(now, "CANCEL")
            else:
                finding("INVALID_TRANSITION", i)
        elif e == SUSPEND:
            if state == ACTIVE:
                state, susp_i = SUSPENDED, i
            else:
                finding("INVALID_TRANSITION", i)
        elif e == KEEP:
            if state in (ACTIVE, SUSPENDED):
                state = KEPT
            else:
                finding("INVALID_TRANSITION", i)
        elif e == RESUME:
            if state in (SUSPENDED, KEPT):
                state = ACTIVE
            else:
                finding("INVALID_TRANSITION", i)
    if cur is not None:
        idle_check()
    return ten, fnd
