with tenures as (
    select * from {{ ref('int_tenures__assembled') }}
),

final as (
    select
        msisdn,
        tenure_seq,
        subscriber_id,
        start_time,
        end_time,
        end_reason,
        start_source_id,
        is_reassignment,
        start_event_id,
        start_event_type,
        end_source_id,
        end_event_id,
        previous_subscriber_id,
        last_responsible_source_id,
        ports_in,
        ports_out,
        events
    from tenures
)

select * from final
