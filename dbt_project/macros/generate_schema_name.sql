{#- Schemas are used exactly as configured (`staging`, `intermediate`, `marts`): the published
    contract is the schema `marts`, not `main_marts` as dbt's default would make it. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
