{#- INTERCHANGE 4: for every LOADED file, records declared = records loaded + records rejected;
    files not LOADED have no loaded and no rejected records. Fails for each file that breaks it. -#}
{% test accounting_invariant(
    model, outcome_column='outcome', declared='rows_declared', loaded='rows_loaded', rejected='rows_rejected'
) %}
select *
from {{ model }}
where ({{ outcome_column }} = 'LOADED'
        and ({{ declared }} is null or {{ loaded }} is null or {{ rejected }} is null
             or {{ declared }} <> {{ loaded }} + {{ rejected }}))
    or ({{ outcome_column }} <> 'LOADED'
        and (coalesce({{ loaded }}, 0) <> 0 or coalesce({{ rejected }}, 0) <> 0))
{% endtest %}
