{{ config(**partition_incremental_config('month')) }}
{{ config(post_hook="{{ drop_emptied_partitions('month', 'select month from ' ~ ref('monthly_number_stats')) }}") }}
{#- Incremental by month: a build rolls up again the months monthly_number_stats rewrote since
    this table's latest build. -#}
with stats as (
    select * from {{ ref('monthly_number_stats') }}
    {% if is_incremental() %}
        where month in (
            select rewritten.month from {{ ref('monthly_number_stats') }} as rewritten
            where
                rewritten.built_at
                > (select coalesce(max(t.built_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
        )
    {% endif %}
),

final as (
    select
        month,
        carrier,
        province,
        count(*) as sources,
        cast(sum(in_service_start) as bigint) as in_service_start,
        cast(sum(activations) as bigint) as activations,
        cast(sum(reassignments) as bigint) as reassignments,
        cast(sum(cancelled) as bigint) as cancelled,
        cast(sum(recycled) as bigint) as recycled,
        cast(sum(ports_in) as bigint) as ports_in,
        cast(sum(ports_out) as bigint) as ports_out,
        sum(recycled) / nullif(sum(in_service_start), 0) as recycle_rate,
        {{ build_started_at() }} as built_at
    from stats
    group by month, carrier, province
)

select * from final
