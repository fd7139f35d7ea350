-- Catches a finding whose event is not in the merged history (wrong source, event id, number
-- or time copied into rule_findings). Bounded by the build, like the history's tests: it reads
-- the findings this build wrote (rule_findings rewrites every number block holding a replayed
-- number, so every finding whose events may have changed is among them) against the events of
-- their numbers; a full build writes every finding at once, so it checks them all.
{{ config(meta={'dagster': {'ref': {'name': 'rule_findings'}}}) }}
with written as (
    select *
    from {{ ref('rule_findings') }}
    where built_at = (select max(published.built_at) from {{ ref('rule_findings') }} as published)
),

events as (
    select
        source_id,
        event_id,
        msisdn,
        event_time
    from {{ ref('int_number_events__replayed') }}
    where msisdn in (select written.msisdn from written)
)

select written.*
from written
left join events
    on
        events.source_id = written.source_id
        and events.event_id = written.event_id
        and events.msisdn = written.msisdn
        and events.event_time = written.event_time
where events.event_id is null
