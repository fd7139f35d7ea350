{#-
    RULES 1 and 2 replayed with window functions, no recursion. Each step below derives one
    fact per event from facts of earlier events of the same number:
    open after the event -> tenure starts -> tenure_seq -> state inside the tenure -> finding.
-#}
with events as (
    select
        *,
        {#- Total order at equal times: PORT_OUT (0) before everything else (1) before PORT_IN (2). -#}
        case event_type when 'PORT_OUT' then 0 when 'PORT_IN' then 2 else 1 end as port_rank
    from {{ ref('stg_lake__lifecycle') }}
),

ordered as (
    select
        *,
        row_number() over (
            partition by msisdn order by event_time, port_rank, source_id, event_id
        ) as event_seq
    from events
),

openness as (
    {#- ACTIVATE and PORT_IN always leave a tenure open; CANCEL and RECYCLE always close it. -#}
    select
        *,
        coalesce(
            last_value(
                case
                    when event_type in ('ACTIVATE', 'PORT_IN') then true
                    when event_type in ('CANCEL', 'RECYCLE') then false
                end ignore nulls
            ) over (partition by msisdn order by event_seq rows between unbounded preceding and current row),
            false
        ) as is_open_after
    from ordered
),

runs as (
    select
        *,
        coalesce(lag(is_open_after) over (partition by msisdn order by event_seq), false) as is_open_before
    from openness
),

run_ids as (
    select
        *,
        event_type in ('ACTIVATE', 'PORT_IN') and not is_open_before as opens_run,
        sum(case when event_type in ('ACTIVATE', 'PORT_IN') and not is_open_before then 1 else 0 end)
            over (partition by msisdn order by event_seq rows between unbounded preceding and current row)
            as run_id
    from runs
),

holders as (
    {#- Inside an open run, the tenure's subscriber is that of the latest ACTIVATE, or of the
        run's opening PORT_IN before any ACTIVATE: every ACTIVATE leaves it equal to its own. -#}
    select
        *,
        last_value(case when event_type = 'ACTIVATE' or opens_run then subscriber_id end ignore nulls)
            over (partition by msisdn, run_id order by event_seq rows between unbounded preceding and 1 preceding)
            as holder_before
    from run_ids
),

starts as (
    select
        *,
        is_open_before and event_type = 'ACTIVATE' and subscriber_id is distinct from holder_before
            as is_implicit_start
    from holders
),

tenures as (
    select
        *,
        opens_run or is_implicit_start as is_tenure_start,
        sum(case when opens_run or is_implicit_start then 1 else 0 end)
            over (partition by msisdn order by event_seq rows between unbounded preceding and current row)
            as tenure_seq_raw,
        is_open_before and event_type in ('CANCEL', 'RECYCLE') as closes_tenure
    from starts
),

segments as (
    {#- A state segment begins at the tenure's start, a KEEP or a RESUME: after a KEEP the
        number is KEPT; otherwise it is SUSPENDED from the first SUSPEND of the segment on. -#}
    select
        *,
        first_value(subscriber_id)
            over (partition by msisdn, tenure_seq_raw order by event_seq) as tenure_subscriber_id,
        last_value(case when event_type in ('ACTIVATE', 'PORT_IN') then source_id end ignore nulls)
            over (partition by msisdn, tenure_seq_raw order by event_seq rows between unbounded preceding and current row)
            as responsible_source_raw,
        sum(case when is_tenure_start or event_type in ('KEEP', 'RESUME') then 1 else 0 end)
            over (partition by msisdn, tenure_seq_raw order by event_seq rows between unbounded preceding and current row)
            as segment_no,
        last_value(case when is_tenure_start then 'START' when event_type in ('KEEP', 'RESUME') then event_type end ignore nulls)
            over (partition by msisdn, tenure_seq_raw order by event_seq rows between unbounded preceding and current row)
            as segment_kind
    from tenures
),

suspensions as (
    select
        *,
        first_value(case when event_type = 'SUSPEND' then event_seq end ignore nulls) over w as suspension_event_seq,
        first_value(case when event_type = 'SUSPEND' then event_time end ignore nulls) over w as suspension_started_at,
        first_value(case when event_type = 'SUSPEND' then event_id end ignore nulls) over w as suspension_event_id,
        first_value(case when event_type = 'SUSPEND' then source_id end ignore nulls) over w as suspension_source_id
    from segments
    window w as (
        partition by msisdn, tenure_seq_raw, segment_no order by event_seq
        rows between unbounded preceding and current row
    )
),

states as (
    select
        *,
        case
            when not is_open_after then null
            when segment_kind = 'KEEP' then 'KEPT'
            when suspension_event_seq is not null then 'SUSPENDED'
            else 'ACTIVE'
        end as tenure_state_after,
        last_value(case when closes_tenure then event_time end ignore nulls)
            over (partition by msisdn order by event_seq rows between unbounded preceding and current row)
            as last_end_after,
        last_value(case when closes_tenure then tenure_subscriber_id end ignore nulls)
            over (partition by msisdn order by event_seq rows between unbounded preceding and current row)
            as last_holder_after
    from suspensions
),

before as (
    select
        *,
        lag(tenure_state_after) over w as tenure_state_before,
        lag(suspension_started_at) over w as suspension_started_before,
        lag(last_end_after) over w as last_end_before,
        lag(last_holder_after) over w as last_holder_before
    from states
    window w as (partition by msisdn order by event_seq)
),

labelled as (
    select
        *,
        case
            when is_open_before then tenure_state_before
            when last_end_before is not null and event_time < last_end_before + interval 90 day then 'COOLING'
            else 'AVAILABLE'
        end as state_before,
        case
            when is_open_after then tenure_state_after
            when last_end_after is not null and event_time < last_end_after + interval 90 day then 'COOLING'
            else 'AVAILABLE'
        end as state_after
    from before
),

judged as (
    {#- RULES 2: at most one finding per event (IDLE_SUSPENDED is raised separately, at as_of). -#}
    select
        *,
        case event_type
            when 'ACTIVATE' then
                case
                    when is_open_before then 'INVALID_TRANSITION'
                    when last_end_before is not null
                        and subscriber_id is distinct from last_holder_before
                        and event_time < last_end_before + interval 90 day
                        then 'COOLING_VIOLATION'
                end
            when 'SUSPEND' then case when state_before <> 'ACTIVE' then 'INVALID_TRANSITION' end
            when 'KEEP' then case when state_before not in ('ACTIVE', 'SUSPENDED') then 'INVALID_TRANSITION' end
            when 'RESUME' then case when state_before not in ('SUSPENDED', 'KEPT') then 'INVALID_TRANSITION' end
            when 'CANCEL' then case when not is_open_before then 'INVALID_TRANSITION' end
            when 'PORT_OUT' then case when not is_open_before then 'INVALID_TRANSITION' end
            when 'RECYCLE' then
                case
                    when not is_open_before then 'INVALID_TRANSITION'
                    when state_before <> 'SUSPENDED'
                        or event_time < suspension_started_before + interval 90 day
                        then 'PREMATURE_RECYCLE'
                end
        end as finding_rule
    from labelled
),

final as (
    select
        msisdn,
        event_seq,
        source_id,
        event_id,
        event_type,
        event_time,
        subscriber_id,
        port_rank,
        is_open_before,
        is_open_after,
        state_before,
        state_after,
        is_tenure_start,
        is_implicit_start,
        closes_tenure,
        case when is_open_after or closes_tenure then tenure_seq_raw end as tenure_seq,
        case when is_open_before then tenure_seq_raw - case when is_tenure_start then 1 else 0 end end
            as tenure_seq_before,
        case
            when closes_tenure then tenure_seq_raw
            when is_implicit_start then tenure_seq_raw - 1
        end as ends_tenure_seq,
        case
            when closes_tenure then event_type
            when is_implicit_start then 'IMPLICIT'
        end as end_reason,
        case when is_open_after then tenure_subscriber_id end as tenure_subscriber_id,
        case when is_open_after then responsible_source_raw end as responsible_source_id,
        case when tenure_state_after = 'SUSPENDED' then suspension_started_at end as suspended_since,
        case when tenure_state_after = 'SUSPENDED' then suspension_event_id end as suspension_event_id,
        case when tenure_state_after = 'SUSPENDED' then suspension_source_id end as suspension_source_id,
        finding_rule,
        file_name,
        business_date,
        seq,
        line_no,
        load_order
    from judged
)

select * from final
