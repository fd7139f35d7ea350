{{
    config(history_incremental_config(
        pre_hook=["{{ create_withdrawn_numbers() }}", "{{ drop_rows_of_numbers_replayed_again() }}"],
        live=('int_number_events__replayed', 'is_tenure_start'),
    ))
}}
-- depends_on: {{ ref('int_number_events__replayed') }}
{# Incremental like the replay (macros/replay_batches.sql). -#}
{#- RULES 1: one row per tenure, from its starting event to its ending event (CANCEL or
    RECYCLE) or to the ACTIVATE of another subscriber that implicitly ends it. -#}
with events as (
    select * from {{ ref('int_number_events__replayed') }}
    {% if is_incremental() %}
        where {{ replayed_since_last_build() }}
    {% endif %}
),

starts as (
    select
        msisdn,
        tenure_seq,
        subscriber_id,
        event_time as start_time,
        source_id as start_source_id,
        event_id as start_event_id,
        event_type as start_event_type,
        replay_batch
    from events
    where is_tenure_start
),

ends as (
    select
        msisdn,
        ends_tenure_seq as tenure_seq,
        event_time as end_time,
        end_reason,
        source_id as end_source_id,
        event_id as end_event_id
    from events
    where ends_tenure_seq is not null
),

inside as (
    select
        msisdn,
        tenure_seq,
        count(*) filter (where event_type = 'PORT_IN' and not is_tenure_start) as ports_in,
        count(*) filter (where event_type = 'PORT_OUT') as ports_out,
        count(*) as events,
        {{ value_at_max('responsible_source_id', 'event_seq') }} filter (where is_open_after)
            as last_responsible_source_id
    from events
    where tenure_seq is not null
    group by msisdn, tenure_seq
),

joined as (
    select
        starts.*,
        ends.end_time,
        ends.end_reason,
        ends.end_source_id,
        ends.end_event_id,
        inside.ports_in,
        inside.ports_out,
        inside.events,
        inside.last_responsible_source_id,
        lag(starts.subscriber_id) over (partition by starts.msisdn order by starts.tenure_seq)
            as previous_subscriber_id
    from starts
    left join ends
        on ends.msisdn = starts.msisdn and ends.tenure_seq = starts.tenure_seq
    left join inside
        on inside.msisdn = starts.msisdn and inside.tenure_seq = starts.tenure_seq
),

final as (
    select
        *,
        tenure_seq >= 2 and (subscriber_id is distinct from previous_subscriber_id) as is_reassignment,
        {{ msisdn_key('msisdn') }} as msisdn_key
    from joined
)

{{ history_select('final', ref('int_number_events__replayed')) }}
