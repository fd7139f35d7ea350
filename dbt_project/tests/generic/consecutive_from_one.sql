{#- Fails for every partition whose sequence column is not exactly 1, 2, ..., n (a hole, a
    duplicate or a start other than 1 means a tenure was lost or counted twice). -#}
{% test consecutive_from_one(model, column_name, partition_by) %}
select
    {{ partition_by }} as part,
    count(*) as n,
    count(distinct {{ column_name }}) as distinct_values,
    min({{ column_name }}) as min_value,
    max({{ column_name }}) as max_value
from {{ model }}
group by {{ partition_by }}
having min({{ column_name }}) <> 1
    or max({{ column_name }}) <> count(*)
    or count(distinct {{ column_name }}) <> count(*)
{% endtest %}
