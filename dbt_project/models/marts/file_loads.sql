with file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

final as (
    select
        source_id,
        feed,
        business_date,
        seq,
        file_name,
        outcome,
        reason,
        detail,
        rows_declared,
        rows_loaded,
        rows_rejected,
        path,
        md5,
        size_bytes,
        first_seen_at,
        decided_at,
        load_order,
        run_id
    from file_loads
)

select * from final
