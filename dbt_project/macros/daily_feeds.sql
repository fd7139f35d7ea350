{#- INTERCHANGE 2.2: the feeds delivered every business date; the others (segments, orgs,
    adoption) arrive when something changes, so they have no gaps. -#}
{% macro daily_feeds() -%}
    ('lifecycle', 'complaints')
{%- endmacro %}
