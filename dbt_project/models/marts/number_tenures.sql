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
with tenures as (
    select * from {{ ref('int_tenures__assembled') }}
    {% if is_incremental() %}
    where replay_batch > (select coalesce(max(replay_batch), 0) from {{ this }})
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
        replay_batch
    from tenures
)

select * from final
