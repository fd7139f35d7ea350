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

grid as (
    select
        months.source_id,
        months.month,
        months.next_month,
        categories.category
    from months
    inner join coverage on coverage.source_id = months.source_id
    cross join categories
),

on_reassignment as (
    {#- The tenure open at receipt is a reassignment that started at most 365 days earlier. -#}
    select distinct
        complaints.source_id,
        complaints.complaint_id
    from complaints
    inner join tenures
        on
            tenures.msisdn = complaints.msisdn
            and tenures.start_time <= complaints.received_time
            and (tenures.end_time is null or tenures.end_time > complaints.received_time)
    where
        tenures.is_reassignment
        and complaints.received_time <= tenures.start_time + interval 365 day
),

flagged as (
    select
        complaints.*,
        on_reassignment.complaint_id is not null as is_on_recent_reassignment,
        {{ microseconds_between('complaints.received_time', 'complaints.resolved_time') }} / 86400000000.0
            as days_to_resolve
    from complaints
    left join on_reassignment
        on
            on_reassignment.source_id = complaints.source_id
            and on_reassignment.complaint_id = complaints.complaint_id
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
        ) as on_recent_reassignment
    from grid
    left join flagged
        on
            flagged.source_id = grid.source_id
            and flagged.category = grid.category
            and flagged.received_time < grid.next_month
    group by grid.month, grid.source_id, grid.category
)

select * from final
