with findings as (
    select * from {{ ref('rule_findings') }}
),

final as (
    select
        cast(date_trunc('month', event_time) as date) as month,
        source_id,
        carrier,
        province,
        rule,
        count(*) as findings,
        count(distinct msisdn) as numbers
    from findings
    group by 1, 2, 3, 4, 5
)

select * from final
