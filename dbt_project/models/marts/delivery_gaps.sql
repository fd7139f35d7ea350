{#- Runs of consecutive missed business dates of a daily feed (int_feed_days__missed): what the
    operations page lists, and a run that reaches as_of means the source is behind. -#}
with missed as (
    select * from {{ ref('int_feed_days__missed') }}
),

as_of as (
    select * from {{ ref('int_platform__dated') }}
),

numbered as (
    select
        *,
        business_date - cast(row_number() over (
            partition by source_id, feed order by business_date
        ) as integer) as run_key
    from missed
),

final as (
    select
        numbered.source_id,
        numbered.feed,
        min(numbered.business_date) as first_day,
        max(numbered.business_date) as last_day,
        count(*) as days,
        cast(sum(numbered.refused_files) as bigint) as refused,
        max(numbered.business_date) = any_value(as_of.as_of) as to_as_of
    from numbered
    cross join as_of
    group by numbered.source_id, numbered.feed, numbered.run_key
)

select * from final
