"""The check index agrees with RULES 6 written directly in SQL over the marts, on a synthetic
world with realistic histories (gaps, implicit ends, recycled numbers, late onboarding)."""

from __future__ import annotations

import json
import random

import duckdb
import pytest

from benchmarks import check as bench
from numlake.check import snapshot
from numlake.msisdn import sha256_hex
from numlake.paths import Home
from tests.support import check_warehouse

# RULES 6 as the spec words it, one EXISTS per clause: an independent formulation.
RULES_6_SQL = """
select q.i,
    case
        when not exists (select 1 from marts.number_tenures t where t.msisdn = q.msisdn) then 'no_data'
        when exists (select 1 from marts.number_first_events f where f.msisdn = q.msisdn
                     and q.d < f.first_source_coverage_start and q.d < cast(f.first_event_time as date)) then 'no_data'
        when exists (select 1 from marts.number_tenures t where t.msisdn = q.msisdn
                     and cast(t.start_time as date) <= q.d and t.end_time is null) then 'no'
        else 'yes'
    end as answer,
    (select strftime(max(cast(t.end_time as date)), '%Y-%m-%d') from marts.number_tenures t
     where t.msisdn = q.msisdn) as last_disconnect_date
from q order by q.i
"""


def test_index_answers_match_rules_6_in_sql_on_a_synthetic_world(tmp_path):
    home = Home(tmp_path / "world")
    check_warehouse.build_synthetic_warehouse(home, 3000, seed=5)
    snapshot.publish(home)
    index = snapshot.load_index(home)
    assert len(index) == 3000

    rnd = random.Random(5)
    rows = []
    for i in range(4000):
        n = str(check_warehouse.BASE + rnd.randrange(3200) * check_warehouse.STRIDE)  # some beyond the 3000 known
        d = f"{rnd.randrange(2011, 2027)}-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}"
        q = rnd.choice([n, sha256_hex(n), f"+86 {n[:3]} {n[3:7]} {n[7:]}"])
        rows.append((i, n, d, q))
    got = index.answer_many([r[3] for r in rows], [r[2] for r in rows])

    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        con.execute("create temp table q (i integer, msisdn varchar, d date)")
        con.executemany("insert into q values (?, ?, ?)", [(i, n, d) for i, n, d, _ in rows])
        expected = con.execute(RULES_6_SQL).fetchall()
    finally:
        con.close()
    answers = {"yes": 0, "no": 0, "no_data": 0}
    for (i, answer, last), row in zip(expected, rows):
        assert (got.answer[i], got.last_disconnect_date[i]) == (answer, last), row
        answers[answer] += 1
    assert min(answers.values()) > 200, answers  # every branch is exercised


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_on_a_small_world(tmp_path):
    out = tmp_path / "check.json"
    rc = bench.main(
        [
            "--numbers",
            "5000",
            "--home",
            str(tmp_path / "b"),
            "--lookups",
            "500",
            "--http-requests",
            "50",
            "--concurrency",
            "1,2",
            "--bulk-rows",
            "3000",
            "--http-bulk-items",
            "1000",
            "--json",
            str(out),
        ]
    )
    figures = json.loads(out.read_text())
    assert rc == 0 and figures["numbers"] == 5000 and figures["bulk_file_rows"] == 3000
    assert figures["lookup_p50_us"] > 0 and figures["http_c2_rps"] > 0
