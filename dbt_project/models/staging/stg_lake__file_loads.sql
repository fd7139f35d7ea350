with source as (
    select * from {{ source('lake', 'file_loads') }}
),

renamed as (
    select
        cast(source_id as string) as source_id,
        cast(feed as string) as feed,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(file_name as string) as file_name,
        cast(outcome as string) as outcome,
        cast(reason as string) as reason,
        cast(detail as string) as detail,
        cast(rows_declared as integer) as rows_declared,
        cast(rows_loaded as integer) as rows_loaded,
        cast(rows_rejected as integer) as rows_rejected,
        cast(path as string) as path,
        cast(md5 as string) as md5,
        cast(size_bytes as bigint) as size_bytes,
        cast(first_seen_at as timestamp) as first_seen_at,
        cast(decided_at as timestamp) as decided_at,
        cast(load_order as bigint) as load_order,
        cast(run_id as string) as run_id,
        cast(lake_stem as string) as lake_stem
    from source
)

select * from renamed
