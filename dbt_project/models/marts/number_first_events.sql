with events as (
    select * from {{ ref('int_number_events__replayed') }}
    where event_seq = 1
),

coverage as (
    select * from {{ ref('source_coverage') }}
),

final as (
    select
        events.msisdn,
        events.event_time as first_event_time,
        events.source_id as first_source_id,
        coverage.coverage_start as first_source_coverage_start
    from events
    left join coverage on coverage.source_id = events.source_id
)

select * from final
