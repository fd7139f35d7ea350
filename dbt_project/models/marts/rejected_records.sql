with rejected as (
    select * from {{ ref('stg_lake__rejected_records') }}
),

final as (
    select
        source_id,
        feed,
        file_name,
        line_no,
        reason,
        raw,
        business_date,
        seq
    from rejected
)

select * from final
