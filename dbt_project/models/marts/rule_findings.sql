with findings as (
    select * from {{ ref('int_rule_findings__raised') }}
),

sources as (
    select * from {{ ref('stg_lake__sources') }}
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
        sources.carrier,
        sources.province
    from findings
    left join sources on sources.source_id = findings.source_id
)

select * from final
