{{
    config(history_incremental_config(
        post_hook=[
            "{{ create_withdrawn_numbers(this) }}",
            "{{ forget_withdrawn_numbers() }}",
            "{{ note_withdrawn_numbers() }}",
            "{{ drop_withdrawn_lifecycle_rows() }}",
            "{{ create_replayed_files(this) }}",
            "{{ record_replayed_files() }}",
        ],
        live=('stg_lake__lifecycle', 'true'),
    ))
}}
{#-
    RULES 1 and 2 replayed with window functions, no recursion. Every window below has the same
    partition (the number) and order (the history's total order, macro history_order), so each
    level costs one sort; a level only uses facts of the levels before it:
      1. position, open after / before the event, latest entering source, SUSPENDs so far;
      2. the open tenure's holder before the event, the last end by CANCEL/RECYCLE;
      3. tenure starts (explicit or implicit), tenure_seq, the current state segment;
      4. the current suspension;
    then the states and the finding of each event are plain expressions.

    Which numbers are replayed, and from which rows, is decided by `replay_input()`
    (macros/replay_changes.sql; on Spark `history_replay_input()`): all of them in a full build, those touched by new or withdrawn
    deliveries in an incremental one.
#}
with
{{ history_replay_input() }}

events as (
    select
        *,
        {{ port_rank('event_type') }} as port_rank
    from lifecycle
),

level_1 as (
    {#- ACTIVATE and PORT_IN always leave a tenure open; CANCEL and RECYCLE always close it. -#}
    select
        *,
        row_number() over upto as event_seq,
        coalesce(last_value(
            {{ opens_or_closes_tenure('event_type') }}
            {{ ignoring_nulls() }}
        ) over upto, false) as is_open_after,
        coalesce(last_value(
            {{ opens_or_closes_tenure('event_type') }}
            {{ ignoring_nulls() }}
        ) over before, false) as is_open_before,
        last_value(case when event_type in ('ACTIVATE', 'PORT_IN') then source_id end {{ ignoring_nulls() }}) over upto
            as last_entry_source_id,
        sum(case when event_type = 'SUSPEND' then 1 else 0 end) over upto as suspends_so_far
    from events
    {{ history_windows() }}
),

level_2 as (
    {#- Inside an open run the tenure's holder is the subscriber of its latest ACTIVATE, or of
        the PORT_IN that opened it: every ACTIVATE leaves the holder equal to its own. -#}
    select
        *,
        is_open_before and event_type in ('CANCEL', 'RECYCLE') as closes_tenure,
        last_value(
            case when event_type = 'ACTIVATE' or (event_type = 'PORT_IN' and not is_open_before) then subscriber_id end
            {{ ignoring_nulls() }}
        ) over before as holder_before,
        last_value(
            case when is_open_before and event_type in ('CANCEL', 'RECYCLE') then event_time end
            {{ ignoring_nulls() }}
        ) over before as last_end_before,
        last_value(
            case when is_open_before and event_type in ('CANCEL', 'RECYCLE') then event_time end
            {{ ignoring_nulls() }}
        ) over upto as last_end_after
    from level_1
    {{ history_windows() }}
),

starts as (
    select
        *,
        is_open_before and event_type = 'ACTIVATE' and (subscriber_id is distinct from holder_before)
            as is_implicit_start,
        (event_type in ('ACTIVATE', 'PORT_IN') and not is_open_before)
        or (is_open_before and event_type = 'ACTIVATE' and (subscriber_id is distinct from holder_before))
            as is_tenure_start
    from level_2
),

level_3 as (
    {#- A state segment begins at the tenure's start, a KEEP or a RESUME: after a KEEP the
        number is KEPT; otherwise it is SUSPENDED once a SUSPEND follows the segment's start. -#}
    select
        *,
        cast(sum(case when is_tenure_start then 1 else 0 end) over upto as bigint) as tenure_seq_raw,
        last_value(case when is_tenure_start then subscriber_id end {{ ignoring_nulls() }}) over upto as tenure_holder,
        last_value(
            case when closes_tenure then holder_before end
            {{ ignoring_nulls() }}
        ) over before as last_holder_before,
        last_value(
            case when closes_tenure then holder_before end
            {{ ignoring_nulls() }}
        ) over upto as last_holder_after,
        last_value(
            case when is_tenure_start then 'START' when event_type in ('KEEP', 'RESUME') then event_type end
            {{ ignoring_nulls() }}
        ) over upto as segment_kind_after,
        last_value(
            case when is_tenure_start then 'START' when event_type in ('KEEP', 'RESUME') then event_type end
            {{ ignoring_nulls() }}
        ) over before as segment_kind_before,
        last_value(
            case when is_tenure_start or event_type in ('KEEP', 'RESUME') then suspends_so_far end
            {{ ignoring_nulls() }}
        ) over upto as segment_suspends_after,
        last_value(
            case when is_tenure_start or event_type in ('KEEP', 'RESUME') then suspends_so_far end
            {{ ignoring_nulls() }}
        ) over before as segment_suspends_before
    from starts
    {{ history_windows() }}
),

level_4 as (
    {#- The current suspension began at the first SUSPEND after the segment's start. -#}
    select
        *,
        last_value(
            case when event_type = 'SUSPEND' and suspends_so_far = segment_suspends_after + 1 then event_time end
            {{ ignoring_nulls() }}
        ) over upto as suspension_started_at,
        last_value(
            case when event_type = 'SUSPEND' and suspends_so_far = segment_suspends_after + 1 then event_id end
            {{ ignoring_nulls() }}
        ) over upto as suspension_event_id_raw,
        last_value(
            case when event_type = 'SUSPEND' and suspends_so_far = segment_suspends_after + 1 then source_id end
            {{ ignoring_nulls() }}
        ) over upto as suspension_source_id_raw,
        {#- Where the number's next event is: the event in force at any instant T is the one with
            event_time < T <= next_event_time (or no next event), so the state at the end of as_of
            is found row by row (int_rule_findings__raised), without reading the number's history. -#}
        lead(event_time) over ({{ history_order() }}) as next_event_time
    from level_3
    {{ history_windows(before=false) }}
),

states as (
    select
        *,
        case
            when not is_open_after then null
            when segment_kind_after = 'KEEP' then 'KEPT'
            when suspends_so_far > segment_suspends_after then 'SUSPENDED'
            else 'ACTIVE'
        end as tenure_state_after,
        case
            when not is_open_before then null
            when segment_kind_before = 'KEEP' then 'KEPT'
            when suspends_so_far - case when event_type = 'SUSPEND' then 1 else 0 end > segment_suspends_before
                then 'SUSPENDED'
            else 'ACTIVE'
        end as tenure_state_before
    from level_4
),

labelled as (
    select
        *,
        case
            when is_open_before then tenure_state_before
            when
                last_end_before is not null
                and event_time < last_end_before + interval {{ var('cooling_days') }} day
                then 'COOLING'
            else 'AVAILABLE'
        end as state_before,
        case
            when is_open_after then tenure_state_after
            when
                last_end_after is not null
                and event_time < last_end_after + interval {{ var('cooling_days') }} day
                then 'COOLING'
            else 'AVAILABLE'
        end as state_after
    from states
),

judged as (
    {#- RULES 2: at most one finding per event (IDLE_SUSPENDED is raised separately, at as_of).
        A RECYCLE is not a SUSPEND, so the suspension in force at it is the one before it. -#}
    select
        *,
        case event_type
            when 'ACTIVATE'
                then
                    case
                        when is_open_before then 'INVALID_TRANSITION'
                        when
                            last_end_before is not null
                            and (subscriber_id is distinct from last_holder_before)
                            and event_time < last_end_before + interval {{ var('cooling_days') }} day
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
                    when
                        state_before <> 'SUSPENDED'
                        or event_time < suspension_started_at + interval {{ var('suspension_before_recycle_days') }} day
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
        case when is_open_after then tenure_holder end as tenure_subscriber_id,
        case when is_open_after then last_entry_source_id end as responsible_source_id,
        case when tenure_state_after = 'SUSPENDED' then suspension_started_at end as suspended_since,
        case when tenure_state_after = 'SUSPENDED' then suspension_event_id_raw end as suspension_event_id,
        case when tenure_state_after = 'SUSPENDED' then suspension_source_id_raw end as suspension_source_id,
        next_event_time,
        finding_rule,
        file_name,
        business_date,
        seq,
        line_no,
        load_order,
        (select batch.replay_batch from batch) as replay_batch,
        {{ msisdn_key('msisdn') }} as msisdn_key
    from judged
)

{{ replay_select('final') }}
