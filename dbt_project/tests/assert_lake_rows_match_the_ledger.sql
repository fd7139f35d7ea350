-- Catches records of superseded or quarantined files left in the lake, and loaded records that
-- went missing: per file, the rows the lake holds must equal the ledger's rows_loaded, and
-- only LOADED files may have rows. Lifecycle rows are counted in the replayed history, which
-- must hold exactly the lake's records (this also catches drift of its incremental updates).
{{ config(meta={'dagster': {'ref': {'name': 'int_number_events__replayed'}}}) }}
with lake as (
    select
        'lifecycle' as feed,
        source_id,
        file_name,
        count(*) as n
    from {{ ref('int_number_events__replayed') }}
    group by 1, 2, 3
    union all
    select
        'complaints' as feed,
        source_id,
        file_name,
        count(*) as n
    from {{ ref('stg_lake__complaints') }}
    group by 1, 2, 3
    union all
    select
        'segments' as feed,
        source_id,
        file_name,
        count(*) as n
    from {{ ref('stg_lake__segments') }}
    group by 1, 2, 3
    union all
    select
        'orgs' as feed,
        source_id,
        file_name,
        count(*) as n
    from {{ ref('stg_lake__orgs') }}
    group by 1, 2, 3
    union all
    select
        'adoption' as feed,
        source_id,
        file_name,
        count(*) as n
    from {{ ref('stg_lake__adoption') }}
    group by 1, 2, 3
),

ledger as (
    select
        source_id,
        feed,
        file_name,
        rows_loaded
    from {{ ref('stg_lake__file_loads') }}
    where outcome = 'LOADED'
)

select
    coalesce(ledger.feed, lake.feed) as feed,
    coalesce(ledger.file_name, lake.file_name) as file_name,
    ledger.rows_loaded,
    lake.n
from ledger
full outer join lake
    on
        lake.source_id = ledger.source_id
        and lake.feed = ledger.feed
        and lake.file_name = ledger.file_name
where coalesce(ledger.rows_loaded, 0) <> coalesce(lake.n, 0)
