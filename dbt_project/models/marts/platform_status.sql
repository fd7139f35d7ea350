with as_of as (
    select * from {{ ref('int_platform__dated') }}
),

final as (
    select
        as_of.as_of,
        {{ china_now() }} as built_at
    from as_of
)

select * from final
