-- Catches records of superseded or quarantined files left in the lake, and loaded records that
-- went missing: per file, the rows the lake holds must equal the ledger's rows_loaded, and
-- only LOADED files may have rows. Lifecycle rows are counted in the replayed history, which
-- must hold exactly the lake's records (this also catches drift of its incremental updates).
-- A file is named by its `load_order`, unique per load of a file across all runs and feeds
-- (docs/LAKE.md): a BIGINT groups the year's 8.3 M replayed rows in a quarter of the time that
-- (source_id, file_name) takes (BENCHMARKS.md); the ledger names the file.
{{ config(meta={'dagster': {'ref': {'name': 'int_number_events__replayed'}}}) }}
with lake as (
    select
        'lifecycle' as feed,
        load_order,
        count(*) as n
    from {{ ref('int_number_events__replayed') }}
    group by 1, 2
    union all
    select
        'complaints' as feed,
        load_order,
        count(*) as n
    from {{ ref('stg_lake__complaints') }}
    group by 1, 2
    union all
    select
        'segments' as feed,
        load_order,
        count(*) as n
    from {{ ref('stg_lake__segments') }}
    group by 1, 2
    union all
    select
        'orgs' as feed,
        load_order,
        count(*) as n
    from {{ ref('stg_lake__orgs') }}
    group by 1, 2
    union all
    select
        'adoption' as feed,
        load_order,
        count(*) as n
    from {{ ref('stg_lake__adoption') }}
    group by 1, 2
),

ledger as (
    select
        source_id,
        feed,
        file_name,
        load_order,
        rows_loaded
    from {{ ref('stg_lake__file_loads') }}
    where outcome = 'LOADED'
)

select
    coalesce(ledger.feed, lake.feed) as feed,
    coalesce(ledger.file_name, concat('load_order ', coalesce(cast(lake.load_order as string), 'null'))) as file_name,
    ledger.rows_loaded,
    lake.n
from ledger
full outer join lake
    on
        lake.load_order = ledger.load_order
        and lake.feed = ledger.feed
where coalesce(ledger.rows_loaded, 0) <> coalesce(lake.n, 0)
