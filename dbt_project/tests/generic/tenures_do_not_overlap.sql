{#- Fails for every pair of tenures of one number whose [start, end) intervals overlap: a number
    has at most one holder at a time. An open tenure (end null) runs to infinity. -#}
{% test tenures_do_not_overlap(model, partition_by, start_column, end_column, order_by) %}
with tenures as (
    select
        {{ partition_by }} as part,
        {{ order_by }} as ord,
        {{ start_column }} as start_at,
        {{ end_column }} as end_at
    from {{ model }}
),

ordered as (
    select
        *,
        lead(start_at) over (partition by part order by ord) as next_start,
        lag(end_at) over (partition by part order by ord) as previous_end,
        lag(ord) over (partition by part order by ord) as previous_ord
    from tenures
)

select *
from ordered
where (previous_ord is not null and previous_end is null)
    or (next_start is not null and end_at is not null and end_at > next_start)
    or (end_at is not null and end_at < start_at)
{% endtest %}
