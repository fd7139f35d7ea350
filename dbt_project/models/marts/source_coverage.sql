with covered as (
    select * from {{ ref('int_feeds__covered') }}
    where feed = 'lifecycle'
),

final as (
    select
        source_id,
        coverage_start
    from covered
)

select * from final
