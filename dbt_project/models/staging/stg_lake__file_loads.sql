with source as (
    select * from {{ source('lake', 'file_loads') }}
),

renamed as (
    select
        cast(source_id as varchar) as source_id,
        cast(feed as varchar) as feed,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(file_name as varchar) as file_name,
        cast(outcome as varchar) as outcome,
        cast(reason as varchar) as reason,
        cast(detail as varchar) as detail,
        cast(rows_declared as integer) as rows_declared,
        cast(rows_loaded as integer) as rows_loaded,
        cast(rows_rejected as integer) as rows_rejected,
        cast(path as varchar) as path,
        cast(md5 as varchar) as md5,
        cast(size_bytes as bigint) as size_bytes,
        cast(first_seen_at as timestamp) as first_seen_at,
        cast(decided_at as timestamp) as decided_at,
        cast(load_order as bigint) as load_order,
        cast(run_id as varchar) as run_id,
        cast(lake_stem as varchar) as lake_stem
    from source
)

select * from renamed
