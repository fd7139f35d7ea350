"""A synthetic warehouse with the published marts (RULES 5, docs/LAKE.md), for the dashboard
tests and the dashboard benchmark: no ingestion or dbt needed.

Everything is generated in DuckDB SQL, so the benchmark world (105 sources × 365 days of
deliveries) takes seconds. The data is plausible, not consistent: it exercises every chart,
the Chinese names, gaps, quarantines, late arrivals and raw rejected records that hold phone
numbers in every shape INTERCHANGE 2.3 allows (to prove the pages mask them).
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import duckdb

from dashboards.labels import PROVINCE_TILES, PROVINCES
from ingestion.registry import feed_map

SMALL_SOURCES = [
    ("CM-GD", "中国移动广东公司", "carrier", "CM", "GD"),
    ("CT-SC", "中国电信四川公司", "carrier", "CT", "SC"),
    ("CU-NAT", "中国联通", "carrier", "CU", "NAT"),
    ("MV-017", "某移动转售企业", "mvno", "CU", "NAT"),
    ("PORTAL", "企业门户", "portal", None, "NAT"),
]

# Phone numbers as sources deliver them; the pages must show none of them in full.
RAW_NUMBERS = ["13812345678", "+86 139 8765 4321", "158-0000-1111", "008617712345678", "8615912345678"]


def benchmark_sources(n: int = 105) -> list[tuple]:
    """31 CM + 31 CT provincial companies, CU and CBN nationals, the portal, MVNOs to make `n`."""
    provinces = list(PROVINCE_TILES)
    out = [(f"CM-{p}", f"中国移动{PROVINCES[p]}公司", "carrier", "CM", p) for p in provinces]
    out += [(f"CT-{p}", f"中国电信{PROVINCES[p]}公司", "carrier", "CT", p) for p in provinces]
    out += [
        ("CU-NAT", "中国联通", "carrier", "CU", "NAT"),
        ("CBN-NAT", "中国广电", "carrier", "CBN", "NAT"),
        ("PORTAL", "企业门户", "portal", None, "NAT"),
    ]
    hosts = ["CM", "CU", "CT"]
    i = 1
    while len(out) < n:
        out.append((f"MV-{i:03d}", f"移动转售企业{i:03d}号", "mvno", hosts[i % 3], "NAT"))
        i += 1
    return out[:n]


def make_warehouse(
    path: Path,
    sources: list[tuple] | None = None,
    days: int = 60,
    as_of: date = date(2025, 6, 30),
    seed: float = 0.42,
    silent: tuple[str, ...] = (),
) -> Path:
    """Create `path` (a DuckDB file): schema `marts`, plus the registry, organisations and
    adoption reports where the dbt project keeps them (`staging.stg_lake__sources`,
    `intermediate.int_orgs__deduplicated`, `staging.stg_lake__adoption`). Sources in `silent` are
    registered but never delivered: no row of theirs anywhere in the marts."""
    path = Path(path)
    if path.exists():
        path.unlink()
    sources = sources or SMALL_SOURCES
    first = as_of - timedelta(days=days - 1)
    con = duckdb.connect(str(path), config={"threads": 2, "memory_limit": "2GB"})
    try:
        con.execute(f"select setseed({seed})")
        con.execute("create schema marts; create schema staging; create schema intermediate")
        con.execute(
            "create table staging.stg_lake__sources (source_id varchar, source_name varchar, kind varchar, "
            "carrier varchar, province varchar, format varchar)"
        )
        con.executemany("insert into staging.stg_lake__sources values (?, ?, ?, ?, ?, 'csv')", sources)
        con.execute(
            f"create table marts.platform_status as select date '{as_of}' as as_of, "
            f"timestamp '{as_of + timedelta(days=1)} 02:10:00' as built_at"
        )
        _file_loads(con, first, as_of)
        _rejects(con)
        _monthly(con, first, as_of)
        _findings(con, first, as_of)
        _adoption(con, as_of)
        for table in (
            "file_loads",
            "rejected_records",
            "monthly_number_stats",
            "monthly_complaints",
            "rule_findings",
        ):
            con.execute(f"delete from marts.{table} where source_id in (select unnest(?::varchar[]))", [list(silent)])
        _freshness(con, as_of)
    finally:
        con.close()
    return path


def _file_loads(con, first: date, as_of: date) -> None:
    con.execute(f"""
        create table marts.file_loads as
        with days as (select unnest(generate_series(date '{first}', date '{as_of}', interval 1 day))::date as d),
        daily as (
            select s.source_id, f.feed, d.d as business_date, random() as r, random() as lag
            from staging.stg_lake__sources s, days d, (values ('lifecycle'), ('complaints')) f(feed)
            where s.kind <> 'portal'),
        portal as (
            select s.source_id, f.feed, d.d as business_date, random() as r, random() as lag
            from staging.stg_lake__sources s, days d, (values ('orgs'), ('adoption')) f(feed)
            where s.kind = 'portal' and random() < 0.15),
        picked as (
            select * from daily where r >= 0.015
            union all select * from portal),
        base as (
            select source_id, feed, business_date, 1 as seq,
                   case when r < 0.025 then 'QUARANTINED' when r < 0.03 then 'PENDING'
                        when r > 0.995 then 'SUPERSEDED' else 'LOADED' end as outcome,
                   case when r < 0.02 then 'checksum_mismatch' when r < 0.025 then 'bad_header' end as reason,
                   (10 + floor(r * 200))::integer as rows, lag from picked
            union all
            select source_id, feed, business_date, 2, 'LOADED', null, (5 + floor(r * 100))::integer, lag
            from picked where r > 0.995)
        select source_id, feed, business_date, seq,
               source_id || '_' || feed || '_' || strftime(business_date, '%Y%m%d') || '_0' || seq || '.csv'
                   as file_name,
               outcome, reason,
               case reason when 'checksum_mismatch'
                               then 'md5 expected ' || left(md5(source_id || business_date::varchar), 12)
                                || '…, found ' || left(md5(feed || business_date::varchar), 12) || '…'
                           when 'bad_header' then 'missing required column: msisdn (号码)' end as detail,
               case when outcome = 'PENDING' then null else rows end as rows_declared,
               case when outcome = 'LOADED' then rows - (rows % 7 = 0)::integer * 2 else 0 end as rows_loaded,
               case when outcome = 'LOADED' then (rows % 7 = 0)::integer * 2 else 0 end as rows_rejected,
               source_id || '/' || feed || '/' || source_id || '_' || feed || '.csv' as path,
               md5(source_id || feed || business_date::varchar || seq::varchar) as md5,
               (rows * 80)::bigint as size_bytes,
               business_date + interval 1 day + interval 2 hour
                   + case when lag > 0.97 then interval 4 day else interval 0 day end as first_seen_at,
               business_date + interval 1 day + interval 2 hour
                   + case when lag > 0.97 then interval 4 day else interval 0 day end
                   + interval 5 minute as decided_at,
               case when outcome in ('LOADED', 'SUPERSEDED') then
                   row_number() over (order by business_date, source_id, feed, seq) end as load_order,
               'run-' || strftime(business_date + interval 1 day, '%Y%m%d') as run_id
        from base""")
    con.execute("""
        insert into marts.file_loads (source_id, feed, business_date, seq, file_name, outcome, reason,
                                      rows_declared, rows_loaded, rows_rejected, path)
        values ('XX-UNREG', 'lifecycle', null, null, 'readme.txt', 'QUARANTINED', 'unknown_source',
                null, 0, 0, 'XX-UNREG/lifecycle/readme.txt')""")


def _rejects(con) -> None:
    numbers = ", ".join(f"'{n}'" for n in RAW_NUMBERS)
    con.execute(f"""
        create table marts.rejected_records as
        with f as (select * from marts.file_loads where outcome = 'LOADED' and rows_rejected > 0),
        r as (select f.*, unnest(range(rows_rejected)) as k from f)
        select source_id, feed, file_name, (k + 2)::integer as line_no,
               case k % 3 when 0 then 'invalid_msisdn' when 1 then 'missing_field' else 'invalid_time' end as reason,
               'E' || load_order || '-' || k || ',' || [{numbers}][1 + ((load_order + k) % {len(RAW_NUMBERS)})::integer]
                   || ',ACTIVATE,20250301081500,用户' || k as raw
        from r""")


def _freshness(con, as_of: date) -> None:
    """The dbt mart's shape: a row per registered source and feed its kind delivers (empty until
    its first delivery), with `is_daily`, `days_behind` and the platform's first business date."""
    con.execute("create temp table feed_map (kind varchar, feed varchar, is_daily boolean)")
    con.executemany("insert into feed_map values (?, ?, ?)", [list(r.values()) for r in feed_map()])
    con.execute(f"""
        create table marts.source_freshness as
        with loaded as (select source_id, feed, business_date from marts.file_loads
                        where outcome = 'LOADED' and business_date is not null),
        expected as (select s.source_id, f.feed from staging.stg_lake__sources s join feed_map f on s.kind = f.kind),
        seen as (select distinct source_id, feed from marts.file_loads union select source_id, feed from expected),
        daily as (select distinct feed from feed_map where is_daily),
        covered as (select source_id, feed, min(business_date) as coverage_start,
                           max(business_date) as latest_business_date, count(distinct business_date) as days
                    from loaded group by source_id, feed),
        start as (select min(business_date) as platform_start from marts.file_loads
                  where source_id in (select source_id from staging.stg_lake__sources))
        select seen.source_id, seen.feed, c.coverage_start, c.latest_business_date,
               case when daily.feed is not null and c.coverage_start is not null then
                   (c.latest_business_date - c.coverage_start + 1 - c.days)::integer
               end as gap_days,
               daily.feed is not null as is_daily,
               r.source_id is not null as is_registered,
               start.platform_start,
               (date '{as_of}' - coalesce(c.latest_business_date,
                                           case when daily.feed is not null then start.platform_start - 1 end))::integer
                   as days_behind
        from seen cross join start
        left join covered c on seen.source_id = c.source_id and seen.feed = c.feed
        left join daily on seen.feed = daily.feed
        left join staging.stg_lake__sources r on seen.source_id = r.source_id""")


def _monthly(con, first: date, as_of: date) -> None:
    con.execute(f"""
        create table marts.monthly_number_stats as
        with months as (select unnest(generate_series(date_trunc('month', date '{first}')::date,
                                                      date '{as_of}', interval 1 month))::date as month)
        select m.month, s.source_id, s.carrier, s.province,
               (50000 + hash(s.source_id) % 200000)::bigint as in_service_start,
               (200 + floor(random() * 500))::bigint as activations,
               (20 + floor(random() * 80))::bigint as reassignments,
               (100 + floor(random() * 300))::bigint as cancelled,
               (30 + floor(random() * 120))::bigint as recycled,
               floor(random() * 40)::bigint as ports_in, floor(random() * 40)::bigint as ports_out,
               null::double as recycle_rate
        from months m, staging.stg_lake__sources s where s.kind <> 'portal'""")
    con.execute("update marts.monthly_number_stats set recycle_rate = recycled / in_service_start")
    con.execute("""
        create table marts.monthly_complaints as
        select n.month, n.source_id, c.category,
               (5 + floor(random() * 60))::bigint as received, (3 + floor(random() * 50))::bigint as resolved,
               floor(random() * 30)::bigint as open_at_end, 0.5 + random() * 9 as median_days_to_resolve,
               floor(random() * 5)::bigint as on_recent_reassignment
        from marts.monthly_number_stats n,
             (values ('SECONDARY_NUMBER'), ('MISMARKED'), ('VERIFICATION_SMS'), ('OTHER')) c(category)""")
    con.execute("""
        create table marts.number_tenures as
        select '1380000' || lpad(i::varchar, 4, '0') as msisdn, 1 as tenure_seq, 'SUB' || i as subscriber_id,
               timestamp '2024-01-01 08:00:00' as start_time, null::timestamp as end_time,
               null::varchar as end_reason, 'CM-GD' as start_source_id, false as is_reassignment
        from range(20) t(i)""")


def _findings(con, first: date, as_of: date) -> None:
    con.execute(f"""
        create table marts.rule_findings as
        select (['PREMATURE_RECYCLE', 'COOLING_VIOLATION', 'IDLE_SUSPENDED', 'INVALID_TRANSITION'])
                   [1 + (i % 4)::integer] as rule,
               '13' || (5 + i % 5)::varchar || lpad((i * 7919 % 100000000)::varchar, 8, '0') as msisdn,
               s.source_id, 'EV' || i as event_id,
               timestamp '{first}' + to_seconds((i * 7919 * 613) % ({(as_of - first).days} * 86400)) as event_time
        from range(400) t(i)
        join (select source_id, row_number() over (order by source_id) - 1 as k, count(*) over () as n
              from staging.stg_lake__sources where kind <> 'portal') s on s.k = i % s.n""")


def _adoption(con, as_of: date) -> None:
    con.execute("""
        create table intermediate.int_orgs__deduplicated as
        select 'ORG' || lpad(i::varchar, 3, '0') as org_id,
               (['招商银行', '支付宝', '微信', '工商银行', '某某金融APP', '京东支付'])[1 + (i % 6)::integer] || i
                   as org_name,
               (['BANK', 'PAYMENT', 'APP'])[1 + (i % 3)::integer] as org_type, date '2024-01-01' as joined_date
        from range(30) t(i)""")
    con.execute(f"""
        create table staging.stg_lake__adoption as
        select o.org_id, s.segment,
               case when random() < 0.75 then 'SUPPORTED' else 'UNSUPPORTED' end as status,
               date '{as_of}' - interval (floor(random() * 200)) day as checked_time,
               row_number() over () as load_order, 2 as line_no
        from intermediate.int_orgs__deduplicated o, (values ('1660'), ('1710'), ('1925')) s(segment)
        where o.org_id <> 'ORG000'  -- one organisation that never reported: a laggard on every segment""")
    con.execute(f"""
        create table marts.segment_adoption as
        with seg(segment, segment_type, opened_date, source_id, vc) as (
            values ('1925', 'BASIC', date '{as_of}' - interval 250 day, 'CBN-NAT', 37),
                   ('1710', 'IOT', date '{as_of}' - interval 120 day, 'CT-SC', 5),
                   ('1660', 'BASIC', date '{as_of}' - interval 95 day, 'CM-GD', 12))
        select s.segment, t.org_type, s.opened_date::date as opened_date, s.segment_type, s.source_id,
               10 as orgs_total, 2 + (length(t.org_type) % 3) as supported_30d,
               case when s.opened_date + interval 90 day <= date '{as_of}' then 5 + (length(t.org_type) % 3) end
                   as supported_90d,
               case when s.opened_date + interval 180 day <= date '{as_of}' then 8 + (length(t.org_type) % 2) end
                   as supported_180d,
               9 as supported_now,
               case when s.segment = '1660' and t.org_type = 'APP' then null
                    when s.opened_date + interval 90 day <= date '{as_of}' then 60 + length(t.org_type) * 5
                    end as days_to_half,
               s.vc as verification_complaints
        from seg s, (values ('BANK'), ('PAYMENT'), ('APP')) t(org_type)""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic warehouse for the dashboards.")
    parser.add_argument("path")
    parser.add_argument("--sources", type=int, default=0, help="benchmark world with N sources (0: the small set)")
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args(argv)
    make_warehouse(Path(args.path), benchmark_sources(args.sources) if args.sources else None, days=args.days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
