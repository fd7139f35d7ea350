{#- RULES 5: per source and feed, the first and latest business dates with a loaded delivery and,
    for the daily feeds, gap_days: the missed business dates between them (int_feed_days__missed).
    Every registered source also gets a row for each feed its kind delivers, empty until the
    first delivery; is_registered says the row is such a pair (a file of an unknown source, or
    of a feed the source's kind does not deliver, e.g. CM-GD/orgs/, is quarantined and keeps
    its row here, not registered). days_behind is as_of minus the latest loaded business date; a daily feed that
    never loaded anything has been silent since the platform's first business date
    (platform_start: the earliest business date of a registered source's file). -#}
with covered as (
    select * from {{ ref('int_feeds__covered') }}
),

missed as (
    select * from {{ ref('int_feed_days__missed') }}
),

file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

sources as (
    select * from {{ ref('stg_lake__sources') }}
),

as_of as (
    select * from {{ ref('int_platform__dated') }}
),

platform_start as (
    select min(file_loads.business_date) as platform_start
    from file_loads
    semi join sources using (source_id)
),

feeds as (
    select * from {{ ref('stg_lake__feeds') }}
),

expected_feeds as (
    select
        sources.source_id,
        feeds.feed
    from sources
    inner join feeds on sources.kind = feeds.kind
),

daily_feeds as (
    select distinct feed from feeds
    where is_daily
),

seen as (
    select distinct
        source_id,
        feed
    from file_loads
    where source_id is not null and feed is not null
    union
    select
        source_id,
        feed
    from expected_feeds
),

gaps as (
    select
        missed.source_id,
        missed.feed,
        count(*) as gap_days
    from missed
    inner join covered on missed.source_id = covered.source_id and missed.feed = covered.feed
    where missed.business_date < covered.latest_business_date
    group by missed.source_id, missed.feed
),

final as (
    select
        seen.source_id,
        seen.feed,
        covered.coverage_start,
        covered.latest_business_date,
        case
            when daily_feeds.feed is not null and covered.coverage_start is not null
                then coalesce(gaps.gap_days, 0)
        end as gap_days,
        daily_feeds.feed is not null as is_daily,
        platform_start.platform_start,
        registered.source_id is not null as is_registered,
        {{ days_between(
            'coalesce(covered.latest_business_date, '
            ~ 'case when daily_feeds.feed is not null then platform_start.platform_start - 1 end)',
            'as_of.as_of'
        ) }} as days_behind
    from seen
    cross join as_of
    cross join platform_start
    left join covered on seen.source_id = covered.source_id and seen.feed = covered.feed
    left join gaps on seen.source_id = gaps.source_id and seen.feed = gaps.feed
    left join expected_feeds as registered on seen.source_id = registered.source_id and seen.feed = registered.feed
    left join daily_feeds on seen.feed = daily_feeds.feed
)

select * from final
