{{ config(**partition_incremental_config('number_block')) }}
-- depends_on: {{ ref('stg_lake__file_loads') }}
{# RULES 2: the per-event findings of the replay, plus IDLE_SUSPENDED: the number is
    SUSPENDED (not KEPT) at the end of as_of and has been for more than 180 days (var
    idle_suspended_days). The state at the end of as_of ignores events after it, which still
    raise their own findings.

    Incremental by number block (`partition_incremental_config`): a build emits every finding of
    each block it touches. A number is touched when it was replayed since the last build, when its
    records were all withdrawn (the file of each of its findings, `file_name`, is no longer
    LOADED), or when moving as_of can change its IDLE_SUSPENDED: it has an event between the old and the new end of as_of,
    or a suspension that crosses the 180 days in between. Per-event findings of a touched block
    come from the replay; IDLE_SUSPENDED is judged again for touched numbers and kept for the
    block's others. Each build also writes marker rows (`rule` null) per touched block and per
    month of its findings before and after: they keep an emptied block in place, record what the
    table was judged against (`as_of`, `replayed_upto`), and tell monthly_rule_findings which
    months changed. -#}
{#- The replay is read where it is used, not as a CTE `events`: a CTE read more than once is
    materialized by DuckDB, i.e. the whole history copied (every column of every event) before
    the few narrow scans below. -#}
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
            greatest(previous.as_of, (select as_of from {{ ref('int_platform__dated') }})) as high_as_of
        from (
            select
                max(as_of) as as_of,
                max(replayed_upto) as replayed_upto
            from {{ this }}
            where built_at = (select max(t.built_at) from {{ this }} as t)
        ) as previous
        cross join (select max(replay_batch) as replayed_upto from {{ ref('int_number_events__replayed') }}) as replayed
    {%- endset -%}
    {%- set bounds = (query_rows(bounds_sql) or [[0, none, none]])[0] -%}
    {%- set moved = bounds[1] is not none and bounds[2] is not none -%}

    previous_findings as (
        select * from {{ this }}
        where rule is not null
    ),

    touched_numbers as (
        {#- Three narrow scans (a union, so each reads one column of the history) and the stale
            findings: a number whose records were all withdrawn is gone from the replay, and each
            of its findings names a file (`file_name`) no longer LOADED. -#}
        select events.msisdn
        from {{ ref('int_number_events__replayed') }} as events
        where events.replay_batch > {{ bounds[0] }}
        {%- if moved %}
            union
            select events.msisdn
            from {{ ref('int_number_events__replayed') }} as events
            where
                events.event_time >= cast('{{ bounds[1] }}' as date) + interval 1 day
                and events.event_time < cast('{{ bounds[2] }}' as date) + interval 1 day
            union
            select events.msisdn
            from {{ ref('int_number_events__replayed') }} as events
            where
                events.suspended_since
                >= cast('{{ bounds[1] }}' as date) + interval 1 day - interval {{ var('idle_suspended_days') }} day
                and events.suspended_since
                < cast('{{ bounds[2] }}' as date) + interval 1 day - interval {{ var('idle_suspended_days') }} day
                and events.state_after = 'SUSPENDED'
        {%- endif %}
        union
        select previous_findings.msisdn
        from previous_findings
        where previous_findings.file_name not in (
            select loaded.file_name from {{ ref('stg_lake__file_loads') }} as loaded
            where loaded.outcome = 'LOADED' and loaded.feed = 'lifecycle'
        )
    ),

    touched_blocks as (
        select distinct {{ number_block('msisdn') }} as number_block
        from touched_numbers
    ),

    judged as (
        {#- Only what the state at as_of needs: `judged` is read twice, so DuckDB materializes it. -#}
        select
            msisdn,
            event_seq,
            event_time,
            state_after,
            suspended_since,
            suspension_event_id,
            suspension_source_id,
            tenure_seq,
            replay_batch,
            file_name
        from {{ ref('int_number_events__replayed') }}
        where msisdn in (select touched_numbers.msisdn from touched_numbers)
    ),
{% else %}
    touched_blocks as (
        select distinct {{ number_block('msisdn') }} as number_block
        from {{ ref('int_number_events__replayed') }} as events
    ),

    judged as (
        select
            msisdn,
            event_seq,
            event_time,
            state_after,
            suspended_since,
            suspension_event_id,
            suspension_source_id,
            tenure_seq,
            replay_batch,
            file_name
        from {{ ref('int_number_events__replayed') }}
    ),
{% endif %}

per_event as (
    select
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
    from {{ ref('int_number_events__replayed') }}
    {% if is_incremental() %}
        where
            finding_rule is not null
            and {{ number_block('msisdn') }} in (select touched_blocks.number_block from touched_blocks)
    {% else %}
        where finding_rule is not null
    {% endif %}
),

last_before_horizon as (
    {#- Each judged number's last event before the end of as_of (hash aggregation, no sort). -#}
    select
        judged.msisdn,
        max(judged.event_seq) as event_seq
    from judged
    cross join platform
    where judged.event_time < platform.as_of + interval 1 day
    group by judged.msisdn
),

state_at_as_of as (
    select
        judged.msisdn,
        judged.state_after,
        judged.suspended_since,
        judged.suspension_event_id,
        judged.suspension_source_id,
        judged.tenure_seq,
        judged.replay_batch,
        judged.file_name,
        platform.as_of
    from judged
    inner join last_before_horizon
        on
            last_before_horizon.msisdn = judged.msisdn
            and last_before_horizon.event_seq = judged.event_seq
    cross join platform
    where judged.state_after = 'SUSPENDED'
),

idle as (
    select
        'IDLE_SUSPENDED' as rule,
        msisdn,
        suspension_source_id as source_id,
        suspension_event_id as event_id,
        suspended_since as event_time,
        'SUSPEND' as event_type,
        tenure_seq,
        'ACTIVE' as state_before,
        replay_batch,
        file_name
    from state_at_as_of
    where suspended_since < as_of + interval 1 day - interval {{ var('idle_suspended_days') }} day
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
        {{ number_block('msisdn') }} as number_block,
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
        {{ number_block('findings.msisdn') }} as number_block,
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
