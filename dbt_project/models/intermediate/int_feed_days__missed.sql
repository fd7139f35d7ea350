{#- RULES 5: a business date of a daily feed (lifecycle, complaints) without a LOADED delivery
    is a gap, whether nothing arrived or only quarantined or pending files did. One row per
    source, daily feed and missed business date, from the feed's coverage start up to as_of;
    `refused_files` counts the quarantined or pending files of that date. -#}
with covered as (
    select * from {{ ref('int_feeds__covered') }}
),

file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

as_of as (
    select * from {{ ref('int_platform__dated') }}
),

daily_feeds as (
    select distinct feed from {{ ref('stg_lake__feeds') }}
    where is_daily
),

business_dates as (
    select
        covered.source_id,
        covered.feed,
        {{ day_series('covered.coverage_start', 'as_of.as_of') }} as business_date
    from covered
    cross join as_of
    semi join daily_feeds using (feed)
),

loaded as (
    select distinct
        source_id,
        feed,
        business_date
    from file_loads
    where outcome = 'LOADED'
),

refused as (
    select
        source_id,
        feed,
        business_date,
        count(*) as refused_files
    from file_loads
    where outcome in ('QUARANTINED', 'PENDING')
    group by source_id, feed, business_date
),

missed as (
    select business_dates.* from business_dates
    anti join loaded using (source_id, feed, business_date)
),

final as (
    select
        missed.source_id,
        missed.feed,
        missed.business_date,
        coalesce(refused.refused_files, 0) as refused_files
    from missed
    left join refused using (source_id, feed, business_date)
)

select * from final
