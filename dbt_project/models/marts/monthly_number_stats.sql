with months as (
    select * from {{ ref('int_source_months__spanned') }}
),

events as (
    select * from {{ ref('int_number_events__replayed') }}
),

tenures as (
    select * from {{ ref('int_tenures__assembled') }}
),

responsibility as (
    select * from {{ ref('int_tenures__attributed') }}
),

sources as (
    select * from {{ ref('stg_lake__sources') }}
),

event_counts as (
    select
        source_id,
        cast(date_trunc('month', event_time) as date) as month,
        count(*) filter (where event_type = 'ACTIVATE') as activations,
        count(*) filter (where event_type = 'CANCEL') as cancelled,
        count(*) filter (where event_type = 'RECYCLE') as recycled,
        count(*) filter (where event_type = 'PORT_IN') as ports_in,
        count(*) filter (where event_type = 'PORT_OUT') as ports_out
    from events
    group by 1, 2
),

reassignment_counts as (
    select
        start_source_id as source_id,
        cast(date_trunc('month', start_time) as date) as month,
        count(*) as reassignments
    from tenures
    where is_reassignment
    group by 1, 2
),

in_service as (
    select
        months.source_id,
        months.month,
        count(*) as in_service_start
    from months
    inner join responsibility
        on
            responsibility.source_id = months.source_id
            and responsibility.valid_from <= cast(months.month as timestamp)
            and (responsibility.valid_to is null or responsibility.valid_to > cast(months.month as timestamp))
    group by 1, 2
),

final as (
    select
        months.month,
        months.source_id,
        sources.carrier,
        sources.province,
        coalesce(in_service.in_service_start, 0) as in_service_start,
        coalesce(event_counts.activations, 0) as activations,
        coalesce(reassignment_counts.reassignments, 0) as reassignments,
        coalesce(event_counts.cancelled, 0) as cancelled,
        coalesce(event_counts.recycled, 0) as recycled,
        coalesce(event_counts.ports_in, 0) as ports_in,
        coalesce(event_counts.ports_out, 0) as ports_out,
        coalesce(event_counts.recycled, 0) / nullif(coalesce(in_service.in_service_start, 0), 0) as recycle_rate
    from months
    left join sources on sources.source_id = months.source_id
    left join in_service
        on in_service.source_id = months.source_id and in_service.month = months.month
    left join event_counts
        on event_counts.source_id = months.source_id and event_counts.month = months.month
    left join reassignment_counts
        on reassignment_counts.source_id = months.source_id and reassignment_counts.month = months.month
)

select * from final
