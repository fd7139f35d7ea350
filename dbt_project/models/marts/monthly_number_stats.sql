{{ config(**partition_incremental_config('month')) }}
{{ config(post_hook="{{ drop_emptied_partitions('month',
    'select month from ' ~ ref('int_source_months__spanned')) }}") }}
-- depends_on: {{ ref('int_deliveries__tracked') }}
{# Incremental by month (`partition_incremental_config`): a build recounts every source of each
    month touched since this table's latest build and keeps the other months. A month is touched
    when it ends after the earliest time of a lifecycle delivery seen or withdrawn since
    (int_deliveries__tracked: the replay is causal, so counts, tenures and responsibility before
    that instant are unchanged), when its set of sources changed (coverage, as_of), or when one of
    its sources changed carrier or province. -#}
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

{% if is_incremental() %}
    tracked as (
        select * from {{ ref('int_deliveries__tracked') }}
    ),

    last_build as (
        select coalesce(max(built_at), cast('1900-01-01' as timestamp)) as built_at from {{ this }}
    ),

    changed_since as (
        select min(tracked.first_time) as first_time
        from tracked
        cross join last_build
        where
            tracked.feed = 'lifecycle'
            and (tracked.built_at > last_build.built_at or tracked.withdrawn_at > last_build.built_at)
    ),

    touched_months as (
        select months.month
        from months
        cross join changed_since
        where cast(months.next_month as timestamp) > changed_since.first_time
        union
        select months.month
        from months
        where
            not exists (
                select 1 from {{ this }} as published
                where published.month = months.month and published.source_id = months.source_id
            )
        union
        select published.month
        from {{ this }} as published
        left join sources on sources.source_id = published.source_id
        where
            published.carrier is distinct from sources.carrier
            or published.province is distinct from sources.province
            or not exists (
                select 1 from months
                where months.month = published.month and months.source_id = published.source_id
            )
    ),

    grid as (
        select * from months
        where month in (select touched_months.month from touched_months)
    ),
{% else %}
    grid as (
        select * from months
    ),
{% endif %}

span as (
    select
        cast(min(month) as timestamp) as first_start,
        cast(max(next_month) as timestamp) as last_end
    from grid
),

event_counts as (
    select
        events.source_id,
        cast(date_trunc('month', events.event_time) as date) as month,
        count(*) filter (where events.event_type = 'ACTIVATE') as activations,
        count(*) filter (where events.event_type = 'CANCEL') as cancelled,
        count(*) filter (where events.event_type = 'RECYCLE') as recycled,
        count(*) filter (where events.event_type = 'PORT_IN') as ports_in,
        count(*) filter (where events.event_type = 'PORT_OUT') as ports_out
    from events
    cross join span
    where events.event_time >= span.first_start and events.event_time < span.last_end
    group by 1, 2
),

reassignment_counts as (
    select
        tenures.start_source_id as source_id,
        cast(date_trunc('month', tenures.start_time) as date) as month,
        count(*) as reassignments
    from tenures
    cross join span
    where tenures.is_reassignment and tenures.start_time >= span.first_start and tenures.start_time < span.last_end
    group by 1, 2
),

in_service as (
    select
        grid.source_id,
        grid.month,
        count(*) as in_service_start
    from grid
    inner join responsibility
        on
            responsibility.source_id = grid.source_id
            and responsibility.valid_from <= cast(grid.month as timestamp)
            and (responsibility.valid_to is null or responsibility.valid_to > cast(grid.month as timestamp))
    group by 1, 2
),

final as (
    select
        grid.month,
        grid.source_id,
        sources.carrier,
        sources.province,
        coalesce(in_service.in_service_start, 0) as in_service_start,
        coalesce(event_counts.activations, 0) as activations,
        coalesce(reassignment_counts.reassignments, 0) as reassignments,
        coalesce(event_counts.cancelled, 0) as cancelled,
        coalesce(event_counts.recycled, 0) as recycled,
        coalesce(event_counts.ports_in, 0) as ports_in,
        coalesce(event_counts.ports_out, 0) as ports_out,
        coalesce(event_counts.recycled, 0) / nullif(coalesce(in_service.in_service_start, 0), 0) as recycle_rate,
        {{ build_started_at() }} as built_at
    from grid
    left join sources on sources.source_id = grid.source_id
    left join in_service
        on in_service.source_id = grid.source_id and in_service.month = grid.month
    left join event_counts
        on event_counts.source_id = grid.source_id and event_counts.month = grid.month
    left join reassignment_counts
        on reassignment_counts.source_id = grid.source_id and reassignment_counts.month = grid.month
)

select * from final
