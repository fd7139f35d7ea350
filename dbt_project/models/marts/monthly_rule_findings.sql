{{ config(**partition_incremental_config('month')) }}
{{ config(post_hook="{{ drop_emptied_partitions('month',
    'select make_date(year(event_time), month(event_time), 1) from ' ~ ref('rule_findings')) }}") }}
{# Incremental by month: a build recounts the months that int_rule_findings__raised marked as
    touched since this table's latest build (the months of the findings of each block it rewrote,
    before and after) and the months of sources whose carrier or province changed. -#}
with findings as (
    select * from {{ ref('rule_findings') }}
),

raised as (
    select * from {{ ref('int_rule_findings__raised') }}
),

sources as (
    select * from {{ ref('stg_lake__sources') }}
),

{% if is_incremental() %}
    touched_months as (
        select raised.touched_month as month
        from raised
        where
            raised.rule is null
            and raised.touched_month is not null
            and raised.built_at
            > (select coalesce(max(t.built_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
        union
        select published.month
        from {{ this }} as published
        left join sources on sources.source_id = published.source_id
        where
            published.carrier is distinct from sources.carrier
            or published.province is distinct from sources.province
    ),
{% endif %}

counted as (
    select
        cast(date_trunc('month', event_time) as date) as month,
        source_id,
        carrier,
        province,
        rule,
        count(*) as findings,
        count(distinct msisdn) as numbers
    from findings
    {% if is_incremental() %}
        where cast(date_trunc('month', event_time) as date) in (select touched_months.month from touched_months)
    {% endif %}
    group by 1, 2, 3, 4, 5
),

final as (
    select
        *,
        {{ build_started_at() }} as built_at
    from counted
)

select * from final
