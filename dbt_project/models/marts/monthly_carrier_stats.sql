with stats as (
    select * from {{ ref('monthly_number_stats') }}
),

final as (
    select
        month,
        carrier,
        province,
        count(*) as sources,
        sum(in_service_start) as in_service_start,
        sum(activations) as activations,
        sum(reassignments) as reassignments,
        sum(cancelled) as cancelled,
        sum(recycled) as recycled,
        sum(ports_in) as ports_in,
        sum(ports_out) as ports_out,
        sum(recycled) / nullif(sum(in_service_start), 0) as recycle_rate
    from stats
    group by month, carrier, province
)

select * from final
