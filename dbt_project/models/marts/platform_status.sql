with as_of as (
    select * from {{ ref('int_platform__as_of') }}
),

final as (
    select
        as_of.as_of,
        cast(timezone('Asia/Shanghai', current_timestamp) as timestamp) as built_at
    from as_of
)

select * from final
