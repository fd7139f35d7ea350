with segments as (
    select * from {{ ref('int_segments__deduplicated') }}
),

orgs as (
    select * from {{ ref('int_orgs__deduplicated') }}
),

intervals as (
    select * from {{ ref('int_adoption__versioned') }}
),

complaints as (
    select * from {{ ref('int_complaints__deduplicated') }}
),

as_of as (
    select * from {{ ref('int_platform__dated') }}
),

org_types as (
    select t.org_type from (values ('BANK'), ('PAYMENT'), ('APP')) as t (org_type)
    union
    select org_type from orgs
    where org_type is not null
),

grid as (
    select
        segments.segment,
        org_types.org_type,
        segments.opened_date,
        segments.segment_type,
        segments.source_id,
        as_of.as_of,
        (
            select count(*) from orgs
            where orgs.org_type = org_types.org_type
        ) as orgs_total
    from segments
    cross join org_types
    cross join as_of
),

{# The days on which the count of supporters can change: opened_date + N, as_of, and every
    report day on or after opened_date (candidates for days_to_half). #}
candidate_days as (
    select
        segment,
        org_type,
        opened_date as day
    from grid
    union
    select
        grid.segment,
        grid.org_type,
        cast(intervals.valid_from as date) as day
    from grid
    inner join intervals
        on intervals.segment = grid.segment and intervals.org_type = grid.org_type
    where cast(intervals.valid_from as date) >= grid.opened_date
    union
    select
        segment,
        org_type,
        cast(opened_date + interval 30 day as date) as day
    from grid
    union
    select
        segment,
        org_type,
        cast(opened_date + interval 90 day as date) as day
    from grid
    union
    select
        segment,
        org_type,
        cast(opened_date + interval 180 day as date) as day
    from grid
    union
    select
        segment,
        org_type,
        as_of as day
    from grid
),

supporters as (
    {#- Organisations supporting the segment at the end of each candidate day. -#}
    select
        candidate_days.segment,
        candidate_days.org_type,
        candidate_days.day,
        count(distinct intervals.org_id) as supporting
    from candidate_days
    left join intervals
        on
            intervals.segment = candidate_days.segment
            and intervals.org_type = candidate_days.org_type
            and intervals.status = 'SUPPORTED'
            and intervals.valid_from < cast(candidate_days.day + interval 1 day as timestamp)
            and (
                intervals.valid_to is null
                or intervals.valid_to >= cast(candidate_days.day + interval 1 day as timestamp)
            )
    group by candidate_days.segment, candidate_days.org_type, candidate_days.day
),

verification as (
    {#- Each VERIFICATION_SMS complaint counts for the longest known segment its number starts with. -#}
    select
        segment,
        count(*) as verification_complaints
    from (
        select
            complaints.source_id,
            complaints.complaint_id,
            {{ value_at_max('segments.segment', 'length(segments.segment)') }} as segment
        from complaints
        inner join segments on {{ text_starts_with('complaints.msisdn', 'segments.segment') }}
        where complaints.category = 'VERIFICATION_SMS'
        group by complaints.source_id, complaints.complaint_id
    ) as per_complaint
    group by segment
),

half_reached as (
    {#- The first day at least half of the segment's organisations supported it (a join, not a
        correlated subquery: Spark cannot aggregate over outer and local columns in one). -#}
    select
        grid.segment,
        grid.org_type,
        grid.opened_date,
        grid.as_of,
        grid.orgs_total,
        min({{ days_between('grid.opened_date', 's.day') }}) as days_to_half
    from grid
    inner join supporters as s
        on
            s.segment = grid.segment
            and s.org_type = grid.org_type
            and s.day >= grid.opened_date
            and s.day <= grid.as_of
            and 2 * s.supporting >= grid.orgs_total
    where grid.orgs_total > 0
    group by grid.segment, grid.org_type, grid.opened_date, grid.as_of, grid.orgs_total
),

final as (
    select
        grid.segment,
        grid.org_type,
        grid.opened_date,
        grid.segment_type,
        grid.source_id,
        grid.orgs_total,
        case when grid.opened_date + interval 30 day <= grid.as_of then s30.supporting end as supported_30d,
        case when grid.opened_date + interval 90 day <= grid.as_of then s90.supporting end as supported_90d,
        case when grid.opened_date + interval 180 day <= grid.as_of then s180.supporting end as supported_180d,
        now_.supporting as supported_now,
        half.days_to_half,
        coalesce(verification.verification_complaints, 0) as verification_complaints
    from grid
    left join half_reached as half
        on
            half.segment = grid.segment and half.org_type = grid.org_type
            and half.opened_date = grid.opened_date and half.as_of = grid.as_of
            and half.orgs_total = grid.orgs_total
    left join supporters as s30
        on
            s30.segment = grid.segment and s30.org_type = grid.org_type
            and s30.day = cast(grid.opened_date + interval 30 day as date)
    left join supporters as s90
        on
            s90.segment = grid.segment and s90.org_type = grid.org_type
            and s90.day = cast(grid.opened_date + interval 90 day as date)
    left join supporters as s180
        on
            s180.segment = grid.segment and s180.org_type = grid.org_type
            and s180.day = cast(grid.opened_date + interval 180 day as date)
    left join supporters as now_
        on now_.segment = grid.segment and now_.org_type = grid.org_type and now_.day = grid.as_of
    left join verification on verification.segment = grid.segment
)

select * from final
