{{ config(**partition_incremental_config('number_block')) }}
-- depends_on: {{ ref('int_number_events__replayed') }}
{# RULES 2: the per-event findings of the replay, plus IDLE_SUSPENDED: the number is
    SUSPENDED (not KEPT) at the end of as_of and has been for more than 180 days (var
    idle_suspended_days). The state at the end of as_of ignores events after it, which still
    raise their own findings.

    Incremental by number block (`partition_incremental_config`): a build emits every finding of
    each block it touches. A number is touched when it was replayed since the last build, when its
    findings here are no longer those of its current replay (records withdrawn), or when moving
    as_of can change its IDLE_SUSPENDED: it has an event between the old and the new end of as_of,
    or a suspension that crosses the 180 days in between. Per-event findings of a touched block
    come from the replay; IDLE_SUSPENDED is judged again for touched numbers and kept for the
    block's others. Each build also writes marker rows (`rule` null) per touched block and per
    month of its findings before and after: they keep an emptied block in place, record what the
    table was judged against (`as_of`, `replayed_upto`), and tell monthly_rule_findings which
    months changed. -#}
with events as (
    select * from {{ ref('int_number_events__replayed') }}
),

platform as (
    select as_of from {{ ref('int_platform__dated') }}
),

replayed as (
    select max(replay_batch) as replayed_upto from events
),

{% if is_incremental() %}
    previous as (
        {#- What the latest build that wrote anything was judged against. -#}
        select
            max(as_of) as as_of,
            max(replayed_upto) as replayed_upto
        from {{ this }}
        where built_at = (select max(t.built_at) from {{ this }} as t)
    ),

    bounds as (
        {#- A replay rebuilt from scratch since (its batches restart at 1) touches every number. -#}
        select
            case
                when previous.replayed_upto is null or replayed.replayed_upto < previous.replayed_upto then 0
                else previous.replayed_upto
            end as replayed_upto,
            least(previous.as_of, platform.as_of) + interval 1 day as low_end,
            greatest(previous.as_of, platform.as_of) + interval 1 day as high_end
        from previous
        cross join platform
        cross join replayed
    ),

    previous_findings as (
        select * from {{ this }}
        where rule is not null
    ),

    current_batches as (
        select
            events.msisdn,
            events.replay_batch
        from events
        where events.msisdn in (select previous_findings.msisdn from previous_findings)
    ),

    touched_numbers as (
        select events.msisdn
        from events
        cross join bounds
        where
            events.replay_batch > bounds.replayed_upto
            or (events.event_time >= bounds.low_end and events.event_time < bounds.high_end)
            or (
                events.state_after = 'SUSPENDED'
                and events.suspended_since >= bounds.low_end - interval {{ var('idle_suspended_days') }} day
                and events.suspended_since < bounds.high_end - interval {{ var('idle_suspended_days') }} day
            )
        union
        select previous_findings.msisdn
        from previous_findings
        where not exists (
            select 1 from current_batches
            where
                current_batches.msisdn = previous_findings.msisdn
                and current_batches.replay_batch = previous_findings.replay_batch
        )
    ),

    touched_blocks as (
        select distinct {{ number_block('msisdn') }} as number_block
        from touched_numbers
    ),

    judged as (
        select * from events
        where msisdn in (select touched_numbers.msisdn from touched_numbers)
    ),
{% else %}
    touched_blocks as (
        select distinct {{ number_block('msisdn') }} as number_block
        from events
    ),

    judged as (
        select * from events
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
        replay_batch
    from events
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
        replay_batch
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
            replay_batch
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
