{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='msisdn',
        on_schema_change='fail',
        post_hook="delete from {{ this }} as t where not exists (select 1 from {{ ref('int_tenures__assembled') }} as u where u.msisdn = t.msisdn and u.replay_batch = t.replay_batch)"
    )
}}
{#- Incremental like the replay: only numbers replayed since this table was last built are
    rebuilt (delete+insert by msisdn); the post-hook drops rows of numbers replayed again
    without them, or gone (every row carries the replay_batch of its number's history). -#}
{#- RULES 1: the responsible source at t is the source of the last ACTIVATE or PORT_IN of the
    tenure open at t. One row per interval [valid_from, valid_to) during which it holds. -#}
with tenures as (
    select * from {{ ref('int_tenures__assembled') }}
    {% if is_incremental() %}
    where replay_batch > (select coalesce(max(replay_batch), 0) from {{ this }})
    {% endif %}
),

events as (
    select * from {{ ref('int_number_events__replayed') }}
    {% if is_incremental() %}
    where msisdn in (select msisdn from tenures)
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
        tenures.replay_batch
    from changes
    inner join tenures
        on tenures.msisdn = changes.msisdn and tenures.tenure_seq = changes.tenure_seq
)

select * from final
