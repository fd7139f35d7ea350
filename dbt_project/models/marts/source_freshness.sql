{#- RULES 5: gap_days counts the business dates between coverage_start and
    latest_business_date without a loaded delivery, for the daily feeds only. Every registered
    source also gets a row for each feed its kind delivers, empty until the first delivery. -#}
with covered as (
    select * from {{ ref('int_feeds__covered') }}
),

file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

sources as (
    select * from {{ ref('stg_lake__sources') }}
),

expected_feeds as (
    select sources.source_id, f.feed
    from sources
    cross join (values ('lifecycle'), ('complaints'), ('segments')) as f (feed)
    where sources.kind in ('carrier', 'mvno')
    union
    select sources.source_id, f.feed
    from sources
    cross join (values ('orgs'), ('adoption')) as f (feed)
    where sources.kind = 'portal'
),

seen as (
    select distinct source_id, feed from file_loads where source_id is not null and feed is not null
    union
    select source_id, feed from expected_feeds
),

final as (
    select
        seen.source_id,
        seen.feed,
        covered.coverage_start,
        covered.latest_business_date,
        case
            when seen.feed in ('lifecycle', 'complaints') and covered.coverage_start is not null
                then datediff('day', covered.coverage_start, covered.latest_business_date) + 1
                    - covered.loaded_business_dates
        end as gap_days,
        seen.feed in ('lifecycle', 'complaints') as is_daily,
        sources.source_id is not null as is_registered
    from seen
    left join covered on covered.source_id = seen.source_id and covered.feed = seen.feed
    left join sources on sources.source_id = seen.source_id
)

select * from final
