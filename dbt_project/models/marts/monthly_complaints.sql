{{ config(**partition_incremental_config('month')) }}
{{ config(post_hook="{{ drop_emptied_partitions('month',
    'select month from ' ~ ref('int_source_months__spanned') ~ ' where source_id in (select source_id from '
    ~ ref('int_feeds__covered') ~ ' where feed = \\'complaints\\')') }}") }}
-- depends_on: {{ ref('int_deliveries__tracked') }}, {{ ref('stg_lake__complaints') }}
{# Incremental by month: a build recounts every source and category of each month touched since
    this table's latest build and keeps the other months. A month is touched when it ends after
    the earliest time of a lifecycle delivery seen or withdrawn since (tenures before it are
    unchanged), or after the earliest receipt or resolution in any report of a complaint with a new
    report; a withdrawn complaints delivery touches every month (which complaints it held is no
    longer known); and when its rows changed (coverage, as_of). -#}
with months as (
    select * from {{ ref('int_source_months__spanned') }}
),

complaints as (
    select * from {{ ref('int_complaints__deduplicated') }}
),

tenures as (
    select * from {{ ref('int_tenures__assembled') }}
),

coverage as (
    select * from {{ ref('int_feeds__covered') }}
    where feed = 'complaints'
),

categories as (
    select c.category from (values ('SECONDARY_NUMBER'), ('MISMARKED'), ('VERIFICATION_SMS'), ('OTHER')) as c (category)
),

all_cells as (
    select
        months.source_id,
        months.month,
        months.next_month,
        categories.category
    from months
    inner join coverage on coverage.source_id = months.source_id
    cross join categories
),

{% if is_incremental() %}
    reports as (
        select * from {{ ref('stg_lake__complaints') }}
    ),

    tracked as (
        select * from {{ ref('int_deliveries__tracked') }}
    ),

    last_build as (
        select coalesce(max(built_at), cast('1900-01-01' as timestamp)) as built_at from {{ this }}
    ),

    changed_deliveries as (
        select tracked.*
        from tracked
        cross join last_build
        where tracked.built_at > last_build.built_at or tracked.withdrawn_at > last_build.built_at
    ),

    reported_again as (
        select distinct
            reports.source_id,
            reports.complaint_id
        from reports
        where reports.file_name in (
            select changed_deliveries.file_name from changed_deliveries
            where changed_deliveries.feed = 'complaints' and changed_deliveries.withdrawn_at is null
        )
    ),

    changed_since as (
        select min(changed_deliveries.first_time) as first_time
        from changed_deliveries
        where changed_deliveries.feed = 'lifecycle'
        union all
        select min(least(reports.received_time, coalesce(reports.resolved_time, reports.received_time)))
        from reports
        inner join reported_again
            on reported_again.source_id = reports.source_id and reported_again.complaint_id = reports.complaint_id
        union all
        select cast('1900-01-01' as timestamp)
        from changed_deliveries
        where changed_deliveries.feed = 'complaints' and changed_deliveries.withdrawn_at is not null
    ),

    touched_months as (
        select all_cells.month
        from all_cells
        where cast(all_cells.next_month as timestamp) > (select min(changed_since.first_time) from changed_since)
        union
        select all_cells.month
        from all_cells
        where
            not exists (
                select 1 from {{ this }} as published
                where
                    published.month = all_cells.month
                    and published.source_id = all_cells.source_id
                    and published.category = all_cells.category
            )
        union
        select published.month
        from {{ this }} as published
        where not exists (
            select 1 from all_cells
            where
                all_cells.month = published.month
                and all_cells.source_id = published.source_id
                and all_cells.category = published.category
        )
    ),

    grid as (
        select * from all_cells
        where month in (select touched_months.month from touched_months)
    ),
{% else %}
    grid as (
        select * from all_cells
    ),
{% endif %}

span as (
    select
        cast(min(month) as timestamp) as first_start,
        cast(max(next_month) as timestamp) as last_end
    from grid
),

counted_complaints as (
    {#- Those that count in a month of the span: received before its end, not resolved before it. -#}
    select complaints.*
    from complaints
    cross join span
    where
        complaints.received_time < span.last_end
        and (complaints.resolved_time is null or complaints.resolved_time >= span.first_start)
),

on_reassignment as (
    {#- The tenure open at receipt is a reassignment that started at most 365 days earlier. Joined
        by the number as a BIGINT (`msisdn_key`; a complaint's number is as valid as an event's,
        INTERCHANGE 2), not as text: the statement 0.25 -> 0.105 s at 360 days (BENCHMARKS.md). -#}
    select distinct
        counted_complaints.source_id,
        counted_complaints.complaint_id
    from counted_complaints
    cross join span
    inner join tenures
        on
            tenures.msisdn_key = {{ msisdn_key('counted_complaints.msisdn') }}
            and tenures.start_time <= counted_complaints.received_time
            and (tenures.end_time is null or tenures.end_time > counted_complaints.received_time)
    where
        tenures.is_reassignment
        and counted_complaints.received_time >= span.first_start
        and counted_complaints.received_time <= tenures.start_time + interval 365 day
),

flagged as (
    select
        counted_complaints.*,
        on_reassignment.complaint_id is not null as is_on_recent_reassignment,
        {{ microseconds_between('counted_complaints.received_time', 'counted_complaints.resolved_time') }}
        / 86400000000.0 as days_to_resolve
    from counted_complaints
    left join on_reassignment
        on
            on_reassignment.source_id = counted_complaints.source_id
            and on_reassignment.complaint_id = counted_complaints.complaint_id
),

final as (
    select
        grid.month,
        grid.source_id,
        grid.category,
        count(*) filter (
            where flagged.received_time >= grid.month and flagged.received_time < grid.next_month
        ) as received,
        count(*) filter (
            where flagged.resolved_time >= grid.month and flagged.resolved_time < grid.next_month
        ) as resolved,
        count(*) filter (
            where flagged.received_time < grid.next_month
            and (flagged.resolved_time is null or flagged.resolved_time >= grid.next_month)
        ) as open_at_end,
        median(flagged.days_to_resolve) filter (
            where flagged.resolved_time >= grid.month and flagged.resolved_time < grid.next_month
        ) as median_days_to_resolve,
        count(*) filter (
            where flagged.received_time >= grid.month and flagged.received_time < grid.next_month
            and flagged.is_on_recent_reassignment
        ) as on_recent_reassignment,
        {{ build_started_at() }} as built_at
    from grid
    left join flagged
        on
            flagged.source_id = grid.source_id
            and flagged.category = grid.category
            and flagged.received_time < grid.next_month
    group by grid.month, grid.source_id, grid.category
)

select * from final
