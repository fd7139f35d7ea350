-- Catches a finding whose event is not in the merged history (wrong source, event id, number
-- or time copied into rule_findings).
{{ config(meta={'dagster': {'ref': {'name': 'rule_findings'}}}) }}
select findings.*
from {{ ref('rule_findings') }} as findings
left join {{ ref('int_number_events__replayed') }} as events
    on
        events.source_id = findings.source_id
        and events.event_id = findings.event_id
        and events.msisdn = findings.msisdn
        and events.event_time = findings.event_time
where events.event_id is null
