{#- Partitioned incremental models (rule_findings by `number_block`, the monthly marts by `month`,
    int_deliveries__tracked by `business_month`) emit every row of each partition they touch
    (`partition_incremental_config`, macros/engine/incremental.sql). A partition left with no row
    at all cannot be emitted, so a post-hook removes it: `live` is a query of the partition values
    that still have rows; every other value in `this` goes. DuckDB deletes the rows; Spark drops
    the partitions (a Parquet table cannot delete rows, but it can drop a partition by value). -#}
{% macro drop_emptied_partitions(column, live) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('drop_emptied_partitions', 'numlake')(column, live)) }}
    {%- else -%}
        {{ return(default__drop_emptied_partitions(column, live)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__drop_emptied_partitions(column, live) -%}
    delete from {{ this }} where {{ column }} not in ({{ live }})
{%- endmacro %}

{% macro spark__drop_emptied_partitions(column, live) -%}
    {%- if execute -%}
        {%- set emptied = run_query('select distinct ' ~ column ~ ' from ' ~ this ~ ' where ' ~ column
                                    ~ ' not in (' ~ live ~ ')') -%}
        {%- for row in emptied -%}
            {%- do run_query('alter table ' ~ this ~ ' drop if exists partition (' ~ column ~ " = '" ~ row[0] ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{#- The time of this dbt invocation, stamped on every row a partitioned build writes (`built_at`):
    a consumer rebuilds what its producer wrote after the consumer's own latest `built_at`. The
    same literal on both engines (sqlfluff's templater has no `run_started_at`: any time will do). -#}
{% macro build_started_at() -%}
    {%- set started = run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") if run_started_at is defined
                      else '2000-01-01 00:00:00' -%}
    cast('{{ started }}' as timestamp)
{%- endmacro %}

{#- The rows of `sql`, run when the model is built (none while dbt parses): what an incremental
    build reads of its own table before it starts, to filter its scans on constants. -#}
{% macro query_rows(sql) -%}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- for row in run_query(sql) -%}
            {%- do rows.append(row) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(rows) }}
{%- endmacro %}
