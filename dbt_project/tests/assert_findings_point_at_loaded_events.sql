-- Catches a finding whose event is not in the merged history (wrong source, event id, number or
-- time copied into rule_findings). Bounded by the build, like the history's tests: every finding
-- this build wrote to rule_findings must be one that int_rule_findings__raised raised, and every
-- finding raised on a number replayed in the latest batch must rest on one of that batch's events
-- (a replayed number's whole history is in its batch, stored in order, so this reads a day's rows,
-- not the history). A full build replays every number in one batch, so it checks every finding;
-- a daily build the findings of the numbers it replayed. A finding carried over from an earlier
-- build, or an IDLE_SUSPENDED judged again as as_of moved, comes from the same columns of the
-- same rows that were checked when its number was replayed.
{{ config(meta={'dagster': {'ref': {'name': 'rule_findings'}}}) }}
with latest as (
    select max(replay_batch) as replay_batch from {{ ref('int_number_events__replayed') }}
),

written as (
    select *
    from {{ ref('rule_findings') }}
    where built_at = (select max(published.built_at) from {{ ref('rule_findings') }} as published)
),

raised as (
    select * from {{ ref('int_rule_findings__raised') }}
    where rule is not null
),

not_raised as (
    select
        written.rule,
        written.msisdn,
        written.source_id,
        written.event_id,
        written.event_time
    from written
    left join raised
        on
            raised.rule = written.rule
            and raised.msisdn = written.msisdn
            and raised.source_id = written.source_id
            and raised.event_id = written.event_id
            and raised.event_time = written.event_time
    where raised.rule is null
),

replayed_events as (
    select
        source_id,
        event_id,
        msisdn,
        event_time
    from {{ ref('int_number_events__replayed') }}
    where replay_batch = (select latest.replay_batch from latest)
),

without_event as (
    select
        raised.rule,
        raised.msisdn,
        raised.source_id,
        raised.event_id,
        raised.event_time
    from raised
    left join replayed_events
        on
            replayed_events.source_id = raised.source_id
            and replayed_events.event_id = raised.event_id
            and replayed_events.msisdn = raised.msisdn
            and replayed_events.event_time = raised.event_time
    where
        raised.replay_batch = (select latest.replay_batch from latest)
        and replayed_events.event_id is null
)

select * from not_raised
union all
select * from without_event
