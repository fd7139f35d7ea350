{#- RULES 3: every month whose first day falls on or after the source's lifecycle coverage
    start, up to the month of as_of. -#}
with coverage as (
    select * from {{ ref('int_feeds__covered') }}
    where feed = 'lifecycle'
),

as_of as (
    select * from {{ ref('int_platform__dated') }}
),

bounds as (
    select
        coverage.source_id,
        coverage.coverage_start,
        case
            when day(coverage.coverage_start) = 1 then coverage.coverage_start
            else cast(date_trunc('month', coverage.coverage_start) + interval 1 month as date)
        end as first_month,
        cast(date_trunc('month', as_of.as_of) as date) as last_month
    from coverage
    cross join as_of
),

months as (
    select
        bounds.source_id,
        {{ series(
            'cast(bounds.first_month as timestamp)', 'cast(bounds.last_month as timestamp)', 'interval 1 month'
        ) }} as month
    from bounds
    where bounds.first_month <= bounds.last_month
),

final as (
    select
        source_id,
        cast(month as date) as month,
        cast(month + interval 1 month as date) as next_month
    from months
)

select * from final
