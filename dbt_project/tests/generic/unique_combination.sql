{#- Fails for every combination of the columns that occurs more than once (no dbt_utils offline).
    `touching`: a condition on the model's rows that picks those written since the test last ran
    (e.g. the latest replay batch). The test then checks only the combinations those rows hold,
    against every row of the table: a duplicate that involves a new row is found, and one among
    older rows only was found when they were new. A daily run groups its own rows instead of the
    whole history; a full build writes every row in one batch, so it checks them all. -#}
{% test unique_combination(model, columns, touching=none) %}
    {% if touching is none %}
        select
            {{ columns | join(', ') }},
            count(*) as n
        from {{ model }}
        group by {{ columns | join(', ') }}
        having count(*) > 1
    {% else %}
        with touched as (
            select distinct {{ columns | join(', ') }}
            from {{ model }}
            where {{ touching }}
        )

        select
            {% for column in columns %}all_rows.{{ column }}, {% endfor %}
            count(*) as n
        from {{ model }} as all_rows
        inner join touched
            on {% for column in columns %}{% if not loop.first %} and {% endif %}all_rows.{{ column }} = touched.{{ column }}{% endfor %}
        group by {% for column in columns %}all_rows.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
        having count(*) > 1
    {% endif %}
{% endtest %}
