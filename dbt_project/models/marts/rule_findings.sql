{{ config(**partition_incremental_config('number_block')) }}
{{ config(post_hook="{{ drop_emptied_partitions('number_block',
    'select number_block from ' ~ ref('int_rule_findings__raised') ~ ' where rule is not null') }}") }}
{#- Incremental by number block, like int_rule_findings__raised: a build copies every finding of
    each block that model rewrote since this table's latest build, and of each block holding a
    source whose carrier or province changed in the registry; a block left without findings is
    dropped by the post-hook. -#}
with raised as (
    select * from {{ ref('int_rule_findings__raised') }}
),

sources as (
    select * from {{ ref('stg_lake__sources') }}
),

{% if is_incremental() %}
    touched_blocks as (
        select raised.number_block
        from raised
        where raised.built_at > (select coalesce(max(t.built_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
        union
        select published.number_block
        from {{ this }} as published
        left join sources on sources.source_id = published.source_id
        where
            published.carrier is distinct from sources.carrier
            or published.province is distinct from sources.province
    ),
{% endif %}

findings as (
    select * from raised
    where
        rule is not null
        {% if is_incremental() %}
            and number_block in (select touched_blocks.number_block from touched_blocks)
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
        sources.carrier,
        sources.province,
        findings.number_block,
        {{ build_started_at() }} as built_at
    from findings
    left join sources on sources.source_id = findings.source_id
)

select * from final
