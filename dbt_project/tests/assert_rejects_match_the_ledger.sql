-- Catches rejected records lost or invented between ingestion and the warehouse: for every file
-- the number of rows in rejected_records must equal the ledger's rows_rejected (0 if not LOADED).
{{ config(meta={'dagster': {'ref': {'name': 'rejected_records'}}}) }}
with ledger as (
    select
        source_id,
        feed,
        file_name,
        sum(rows_rejected) as rows_rejected
    from {{ ref('file_loads') }}
    where outcome = 'LOADED'
    group by 1, 2, 3
),

rejects as (
    select
        source_id,
        feed,
        file_name,
        count(*) as n
    from {{ ref('rejected_records') }}
    group by 1, 2, 3
)

select
    coalesce(ledger.file_name, rejects.file_name) as file_name,
    ledger.rows_rejected,
    rejects.n
from ledger
full outer join rejects
    on
        rejects.source_id = ledger.source_id
        and rejects.feed = ledger.feed
        and rejects.file_name = ledger.file_name
where coalesce(ledger.rows_rejected, 0) <> coalesce(rejects.n, 0)
