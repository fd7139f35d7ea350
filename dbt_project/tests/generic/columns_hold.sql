{#- A model's simple column rules in one test and one scan: `not_null` columns hold no null,
    `unique` columns no value twice (nulls aside, as dbt's `unique`), and each `accepted_values`
    column only the listed values (nulls aside, as dbt's `accepted_values`). Fails with one row per
    broken rule: the column, the rule, how many rows break it and one example value. On the
    incremental history tables it is configured (`where`) to read the latest replay batch: the
    rows a build wrote; a full build writes every row in one batch.

    Why one test instead of dbt's per-column tests: every dbt node costs ~40 ms of Python in the
    dbt process and two events in Dagster's run history, whatever its query costs. The 99
    per-column tests of these rules were most of a daily build's 175 nodes and ~2 s of it
    (BENCHMARKS.md, issue 17); as 24 tests they read each model once. -#}
{% test columns_hold(model, not_null=[], unique=[], accepted_values={}) %}
    {#- each rule: the column, its name, the count of rows breaking it, an example of them -#}
    {%- set rules = [] -%}
    {%- for column in not_null -%}
        {%- set broken = column ~ ' is null' -%}
        {%- do rules.append((column, 'not_null', 'sum(case when ' ~ broken ~ ' then 1 else 0 end)', 'null')) -%}
    {%- endfor -%}
    {%- for column in unique -%}
        {%- do rules.append((column, 'unique', 'count(' ~ column ~ ') - count(distinct ' ~ column ~ ')', 'null')) -%}
    {%- endfor -%}
    {%- for column, values in accepted_values.items() -%}
        {%- set listed = [] -%}
        {%- for value in values -%}{%- do listed.append("'" ~ value ~ "'") -%}{%- endfor -%}
        {%- set broken = column ~ ' not in (' ~ listed | join(', ') ~ ')' -%}
        {%- do rules.append((
            column, 'accepted_values', 'sum(case when ' ~ broken ~ ' then 1 else 0 end)',
            'min(case when ' ~ broken ~ ' then ' ~ column ~ ' end)'
        )) -%}
    {%- endfor -%}
    with counted as (
        select
            {% for column, rule, failing, example in rules -%}
                {{ failing }} as failing_{{ loop.index }},
                cast({{ example }} as {{ dbt.type_string() }}) as example_{{ loop.index }},
            {% endfor -%}
            count(*) as checked_rows
        from {{ model }}
    ),

    {#- a value that occurs twice, for each unique column -#}
    repeated as (
        select
            {% for column in unique -%}
                (
                    select min(cast(repeated_values.{{ column }} as {{ dbt.type_string() }}))
                    from (
                        select {{ column }}
                        from {{ model }}
                        where {{ column }} is not null
                        group by {{ column }}
                        having count(*) > 1
                    ) as repeated_values
                ) as {{ column }},
            {% endfor -%}
            1 as one_row
    )

    {% for column, rule, failing, example in rules -%}
        select
            '{{ column }}' as column_name,
            '{{ rule }}' as rule,
            counted.failing_{{ loop.index }} as failing_rows,
            {% if rule == 'unique' -%}
                repeated.{{ column }} as example
            {%- else -%}
                counted.example_{{ loop.index }} as example
            {%- endif %}
        from counted
        cross join repeated
        where counted.failing_{{ loop.index }} > 0
        union all
    {% endfor -%}
    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as rule,
        0 as failing_rows,
        cast(null as {{ dbt.type_string() }}) as example
    from repeated
    where one_row = 0
{% endtest %}
