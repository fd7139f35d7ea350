{{
    config(first_events_config(pre_hook=["{{ create_withdrawn_numbers() }}", "{{ drop_rows_of_numbers_replayed_again() }}"], post_hook=[
        "update {{ this }} as t set first_source_coverage_start = c.coverage_start from {{ ref('source_coverage') }} as c where c.source_id = t.first_source_id and t.first_source_coverage_start is distinct from c.coverage_start",
    ]))
}}
-- depends_on: {{ ref('int_number_events__replayed') }}
{# Incremental like the replay: only numbers replayed since the last build are rebuilt; the
    second post-hook follows a source whose coverage start moved (an earlier delivery loaded).
    On Spark a table rebuilt at each run (macros/engine/incremental.sql, first_events_config). -#}
with events as (
    select * from {{ ref('int_number_events__replayed') }}
    where
        event_seq = 1
        {% if is_incremental() %}
            and {{ replayed_since_last_build() }}
        {% endif %}
),

coverage as (
    select * from {{ ref('source_coverage') }}
),

final as (
    select
        events.msisdn,
        events.event_time as first_event_time,
        events.source_id as first_source_id,
        coverage.coverage_start as first_source_coverage_start,
        events.replay_batch,
        events.msisdn_key
    from events
    left join coverage on coverage.source_id = events.source_id
)

select * from final
