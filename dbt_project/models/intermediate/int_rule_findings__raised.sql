{#- RULES 2: the per-event findings of the replay, plus IDLE_SUSPENDED: the number is
    SUSPENDED (not KEPT) at the end of as_of and has been for more than 180 days (var idle_suspended_days). The state
    at the end of as_of ignores events after it, which still raise their own findings. -#}
with events as (
    select * from {{ ref('int_number_events__replayed') }}
),

as_of as (
    select * from {{ ref('int_platform__dated') }}
),

per_event as (
    select
        finding_rule as rule,
        msisdn,
        source_id,
        event_id,
        event_time,
        event_type,
        coalesce(tenure_seq, tenure_seq_before) as tenure_seq,
        state_before
    from events
    where finding_rule is not null
),

last_before_horizon as (
    {#- Each number's last event before the end of as_of (hash aggregation, no sort). -#}
    select
        events.msisdn,
        max(events.event_seq) as event_seq
    from events
    cross join as_of
    where events.event_time < as_of.as_of + interval 1 day
    group by events.msisdn
),

state_at_as_of as (
    select
        events.msisdn,
        events.state_after,
        events.suspended_since,
        events.suspension_event_id,
        events.suspension_source_id,
        events.tenure_seq,
        as_of.as_of
    from events
    inner join last_before_horizon
        on
            last_before_horizon.msisdn = events.msisdn
            and last_before_horizon.event_seq = events.event_seq
    cross join as_of
    where events.state_after = 'SUSPENDED'
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
        'ACTIVE' as state_before
    from state_at_as_of
    where
        state_after = 'SUSPENDED'
        and suspended_since < as_of + interval 1 day - interval {{ var('idle_suspended_days') }} day
),

final as (
    select * from per_event
    union all
    select * from idle
)

select * from final
