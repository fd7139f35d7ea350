{{
    config(history_incremental_config(
        pre_hook=["{{ create_withdrawn_numbers() }}", "{{ drop_rows_of_numbers_replayed_again() }}"],
        live=('int_tenures__assembled', 'true'),
    ))
}}
-- depends_on: {{ ref('int_tenures__assembled') }}
{# Incremental like the replay (macros/replay_batches.sql). -#}
with tenures as (
    select * from {{ ref('int_tenures__assembled') }}
    {% if is_incremental() %}
        where {{ replayed_since_last_build() }}
    {% endif %}
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
        events,
        replay_batch,
        msisdn_key
    from tenures
)

{{ history_select('final', ref('int_tenures__assembled')) }}
