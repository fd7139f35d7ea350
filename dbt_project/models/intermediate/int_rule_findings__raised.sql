{{ config(**partition_incremental_config('number_block')) }}
-- depends_on: {{ ref('stg_lake__file_loads') }}
{# RULES 2: the per-event findings of the replay, plus IDLE_SUSPENDED: the number is
    SUSPENDED (not KEPT) at the end of as_of and has been for more than 180 days (var
    idle_suspended_days). The state at the end of as_of ignores events after it, which still
    raise their own findings: it is the number's last event before the end of as_of, the row with
    event_time before it and next_event_time (the replay's) at or after it, or none.

    Incremental by number block (`partition_incremental_config`; `finding_block`: the first nine
    digits on DuckDB, five on Spark): a build emits every finding of each block it touches. A number is touched when it was replayed since the last build, when its
    records were all withdrawn (the file of each of its findings, `file_name`, is no longer
    LOADED), or when moving as_of can change its IDLE_SUSPENDED: it has an event between the old and the new end of as_of,
    or its last event before the new end is a suspension that crosses the 180 days in between.
    A replayed number's whole history is in the replay batches since the last build, so its
    findings come from there; the per-event findings of a touched block's other numbers are
    the table's own (they do not depend on as_of), and their IDLE_SUSPENDED is judged again where
    as_of can change it and kept otherwise. No step reads the whole history: every scan of the
    replay is bounded by its batch or by a day of event or suspension times. Each build also
    writes marker rows (`rule` null) per touched block and per
    month of its findings before and after: they keep an emptied block in place, record what the
    table was judged against (`as_of`, `replayed_upto`), and tell monthly_rule_findings which
    months changed. -#}
{#- The replay is read where it is used, not as a CTE `events`: a CTE read more than once is
    materialized by DuckDB, i.e. the whole history copied (every column of every event) before
    the few narrow scans below. -#}
{%- set state_columns -%}
    msisdn, event_time, state_after, suspended_since, suspension_event_id, suspension_source_id, tenure_seq,
    replay_batch, file_name
{%- endset -%}
{%- set per_event_columns -%}
    finding_rule as rule,
    msisdn,
    source_id,
    event_id,
    event_time,
    event_type,
    coalesce(tenure_seq, tenure_seq_before) as tenure_seq,
    state_before,
    replay_batch,
    file_name
{%- endset -%}
{%- set finding_columns -%}
    rule, msisdn, source_id, event_id, event_time, event_type, tenure_seq, state_before, replay_batch, file_name
{%- endset -%}
{%- set end_of_as_of = "(select platform.as_of from platform) + interval 1 day" -%}
with platform as (
    select as_of from {{ ref('int_platform__dated') }}
),

replayed as (
    select max(replay_batch) as replayed_upto from {{ ref('int_number_events__replayed') }}
),

{% if is_incremental() %}
    {#- What the latest build that wrote anything was judged against, read before the build so
        that the scans below filter on constants (the replay batches are stored in order, so a
        filter on a constant batch skips the untouched row groups). A replay rebuilt from scratch
        since (its batches restart at 1) touches every number. -#}
    {%- set bounds_sql -%}
        select
            case
                when previous.replayed_upto is null or previous.replayed_upto > replayed.replayed_upto then 0
                else previous.replayed_upto
            end as replayed_upto,
            least(previous.as_of, (select as_of from {{ ref('int_platform__dated') }})) as low_as_of,
            greatest(previous.as_of, (select as_of from {{ ref('int_platform__dated') }})) as high_as_of,
            (select as_of from {{ ref('int_platform__dated') }}) as as_of
        from (
            select
                max(as_of) as as_of,
                max(replayed_upto) as replayed_upto
            from {{ this }}
            where built_at = (select max(t.built_at) from {{ this }} as t)
        ) as previous
        cross join (select max(replay_batch) as replayed_upto from {{ ref('int_number_events__replayed') }}) as replayed
    {%- endset -%}
    {%- set bounds = (query_rows(bounds_sql) or [[0, none, none, none]])[0] -%}
    {%- set since = bounds[0] -%}
    {%- set moved = bounds[1] is not none and bounds[2] is not none -%}
    {#- constants, so that each scan below filters inside the table scan and skips row groups -#}
    {%- if bounds[3] is not none -%}
        {%- set end_of_as_of = "(cast('" ~ bounds[3] ~ "' as date) + interval 1 day)" -%}
    {%- endif -%}
    {%- if moved -%}
        {%- set low_end = "(cast('" ~ bounds[1] ~ "' as date) + interval 1 day)" -%}
        {%- set high_end = "(cast('" ~ bounds[2] ~ "' as date) + interval 1 day)" -%}
        {%- set idle_days = "interval " ~ var('idle_suspended_days') ~ " day" -%}
    {%- endif -%}

    previous_findings as (
        select * from {{ this }}
        where rule is not null
    ),

    replayed_again as (
        select distinct events.msisdn
        from {{ ref('int_number_events__replayed') }} as events
        where events.replay_batch > {{ since }}
    ),

    withdrawn as (
        {#- A number whose records were all withdrawn is gone from the replay: each of its
            findings names a file (`file_name`) no longer LOADED. -#}
        select previous_findings.msisdn
        from previous_findings
        where previous_findings.file_name not in (
            select loaded.file_name from {{ ref('stg_lake__file_loads') }} as loaded
            where loaded.outcome = 'LOADED' and loaded.feed = 'lifecycle'
        )
    ),

    last_events as (
        {#- Each judged number's last event before the end of as_of. Replayed numbers: from their
            new histories. Others, where moving as_of can change it: the last event before the new
            end of a number with an event between the old and the new end (that event, or the one
            before it when as_of moved back), and a last event whose suspension crosses the 180
            days in between. -#}
        select {{ state_columns }}
        from {{ ref('int_number_events__replayed') }}
        where
            replay_batch > {{ since }}
            and event_time < {{ end_of_as_of }}
            and (next_event_time is null or next_event_time >= {{ end_of_as_of }})
        {%- if moved %}
            union
            select {{ state_columns }}
            from {{ ref('int_number_events__replayed') }}
            where
                replay_batch <= {{ since }}
                and event_time >= {{ low_end }}
                and event_time < {{ end_of_as_of }}
                and (next_event_time is null or next_event_time >= {{ end_of_as_of }})
            union
            select {{ state_columns }}
            from {{ ref('int_number_events__replayed') }}
            where
                replay_batch <= {{ since }}
                and next_event_time >= {{ end_of_as_of }}
                and next_event_time < {{ high_end }}
                and event_time < {{ end_of_as_of }}
            union
            select {{ state_columns }}
            from {{ ref('int_number_events__replayed') }}
            where
                replay_batch <= {{ since }}
                and suspended_since >= {{ low_end }} - {{ idle_days }}
                and suspended_since < {{ high_end }} - {{ idle_days }}
                and state_after = 'SUSPENDED'
                and event_time < {{ end_of_as_of }}
                and (next_event_time is null or next_event_time >= {{ end_of_as_of }})
        {%- endif %}
    ),

    touched_numbers as (
        select replayed_again.msisdn from replayed_again
        union
        select withdrawn.msisdn from withdrawn
        union
        select last_events.msisdn from last_events
        {%- if moved %}
            {# and a number with an event in between but none before the new end: nothing to judge #}
            union
            select events.msisdn
            from {{ ref('int_number_events__replayed') }} as events
            where events.event_time >= {{ low_end }} and events.event_time < {{ high_end }}
        {%- endif %}
    ),

    touched_blocks as (
        select distinct {{ finding_block('msisdn') }} as number_block
        from touched_numbers
    ),

    per_event as (
        select {{ per_event_columns }}
        from {{ ref('int_number_events__replayed') }}
        where finding_rule is not null and replay_batch > {{ since }}
        {%- if since > 0 %}
            union all
            select {{ finding_columns }}
            from previous_findings
            where
                rule <> 'IDLE_SUSPENDED'
                and number_block in (select touched_blocks.number_block from touched_blocks)
                and msisdn not in (select replayed_again.msisdn from replayed_again)
                and msisdn not in (select withdrawn.msisdn from withdrawn)
        {%- endif %}
    ),
{% else %}
    touched_blocks as (
        select distinct {{ finding_block('msisdn') }} as number_block
        from {{ ref('int_number_events__replayed') }} as events
    ),

    last_events as (
        select {{ state_columns }}
        from {{ ref('int_number_events__replayed') }}
        where
            event_time < {{ end_of_as_of }}
            and (next_event_time is null or next_event_time >= {{ end_of_as_of }})
    ),

    per_event as (
        select {{ per_event_columns }}
        from {{ ref('int_number_events__replayed') }}
        where finding_rule is not null
    ),
{% endif %}

idle as (
    select
        'IDLE_SUSPENDED' as rule,
        last_events.msisdn,
        last_events.suspension_source_id as source_id,
        last_events.suspension_event_id as event_id,
        last_events.suspended_since as event_time,
        'SUSPEND' as event_type,
        last_events.tenure_seq,
        'ACTIVE' as state_before,
        last_events.replay_batch,
        last_events.file_name
    from last_events
    cross join platform
    where
        last_events.state_after = 'SUSPENDED'
        and last_events.suspended_since
        < platform.as_of + interval 1 day - interval {{ var('idle_suspended_days') }} day
),

findings as (
    select * from per_event
    union all
    select * from idle
    {% if is_incremental() %}
        union all
        select
            rule,
            msisdn,
            source_id,
            event_id,
            event_time,
            event_type,
            tenure_seq,
            state_before,
            replay_batch,
            file_name
        from previous_findings
        where
            rule = 'IDLE_SUSPENDED'
            and number_block in (select touched_blocks.number_block from touched_blocks)
            and msisdn not in (select touched_numbers.msisdn from touched_numbers)
    {% endif %}
),

markers as (
    select
        number_block,
        cast(null as date) as touched_month
    from touched_blocks
    union
    select
        {{ finding_block('msisdn') }} as number_block,
        cast(date_trunc('month', event_time) as date) as touched_month
    from findings
    {% if is_incremental() %}
        union
        select
            number_block,
            cast(date_trunc('month', event_time) as date) as touched_month
        from previous_findings
        where number_block in (select touched_blocks.number_block from touched_blocks)
    {% endif %}
),

final as (
    select
        findings.rule,
        findings.msisdn,
        findings.source_id,
        findings.event_id,
        findings.event_time,
        findings.event_type,
        findings.tenure_seq,
        findings.state_before,
        findings.replay_batch,
        findings.file_name,
        {{ finding_block('findings.msisdn') }} as number_block,
        cast(null as date) as touched_month,
        platform.as_of,
        replayed.replayed_upto,
        {{ build_started_at() }} as built_at
    from findings
    cross join platform
    cross join replayed
    union all
    select
        cast(null as string) as rule,
        cast(null as string) as msisdn,
        cast(null as string) as source_id,
        cast(null as string) as event_id,
        cast(null as timestamp) as event_time,
        cast(null as string) as event_type,
        cast(null as bigint) as tenure_seq,
        cast(null as string) as state_before,
        cast(null as integer) as replay_batch,
        cast(null as string) as file_name,
        markers.number_block,
        markers.touched_month,
        platform.as_of,
        replayed.replayed_upto,
        {{ build_started_at() }} as built_at
    from markers
    cross join platform
    cross join replayed
)

select * from final
