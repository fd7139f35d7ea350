{{
    config(history_incremental_config(
        pre_hook=["{{ create_withdrawn_numbers() }}", "{{ drop_rows_of_numbers_replayed_again() }}"],
        live=('int_tenures__assembled', 'true'),
    ))
}}
-- depends_on: {{ ref('int_tenures__assembled') }}
{# Incremental like the replay (macros/replay_batches.sql). -#}
{#- RULES 1: the responsible source at t is the source of the last ACTIVATE or PORT_IN of the
    tenure open at t. One row per interval [valid_from, valid_to) during which it holds. -#}
with tenures as (
    select * from {{ ref('int_tenures__assembled') }}
    {% if is_incremental() %}
        where {{ replayed_since_last_build() }}
    {% endif %}
),

events as (
    {#- Every row of a replayed number carries its latest batch, so the batch bound keeps all of
        their rows and lets the scan skip the older row groups before the semi-join. -#}
    select * from {{ ref('int_number_events__replayed') }}
    {% if is_incremental() %}
        where {{ replayed_since_last_build() }} and msisdn in (select tenures.msisdn from tenures)
    {% endif %}
),

changes as (
    select
        msisdn,
        tenure_seq,
        event_seq,
        source_id,
        event_time as valid_from,
        lead(event_time) over (partition by msisdn, tenure_seq order by event_seq) as next_change
    from events
    where is_open_after and event_type in ('ACTIVATE', 'PORT_IN')
),

final as (
    select
        changes.msisdn,
        changes.tenure_seq,
        changes.event_seq,
        changes.source_id,
        changes.valid_from,
        case
            when changes.next_change is null then tenures.end_time
            when tenures.end_time is null then changes.next_change
            else least(changes.next_change, tenures.end_time)
        end as valid_to,
        tenures.replay_batch,
        tenures.msisdn_key
    from changes
    inner join tenures
        on tenures.msisdn = changes.msisdn and tenures.tenure_seq = changes.tenure_seq
)

{{ history_select('final', ref('int_tenures__assembled')) }}
