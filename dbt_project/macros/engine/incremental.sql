{#- How the number-history models stay incremental on each engine.

    DuckDB: `delete+insert` by msisdn, and a post-hook drops the rows of numbers replayed again
    without them (`drop_rows_of_replaced_histories`).
    Spark without Delta or Iceberg (their jars cannot be fetched here) can neither delete nor
    merge into a Parquet table: the tables are partitioned by number block (`number_block`, the
    first five digits: ~100,000 numbers per block) and a build overwrites exactly the blocks it
    touches (`insert_overwrite`, dynamic partition overwrite). The model then has to emit every
    row of each touched block: its new rows plus the kept rows of the block's other numbers. -#}

{% macro number_block(msisdn) -%}
    substr({{ msisdn }}, 1, 5)
{%- endmacro %}

{% macro history_incremental_config() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('history_incremental_config', 'numlake')()) }}
    {%- else -%}
        {{ return(default__history_incremental_config()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__history_incremental_config() -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': 'msisdn'}) }}
{%- endmacro %}

{% macro spark__history_incremental_config() -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
               'partition_by': ['number_block'], 'file_format': 'parquet'}) }}
{%- endmacro %}

{#- The lake as Spark tables: dbt-duckdb reads `external_location`, Spark reads tables. Run as an
    `on-run-start` hook: each run re-creates the external Parquet tables of schema `lake` over
    `NUMLAKE_LAKE`, so new delivery files are listed afresh. Nothing on DuckDB. -#}
{% macro register_lake_tables() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('register_lake_tables', 'numlake')()) }}
    {%- else -%}
        {{ return(default__register_lake_tables()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__register_lake_tables() -%}
    select 1
{%- endmacro %}

{% macro spark__register_lake_tables() -%}
    {%- set lake = env_var('NUMLAKE_LAKE') -%}
    {%- set tables = {
        'lifecycle': 'lifecycle', 'complaints': 'complaints', 'segments': 'segments', 'orgs': 'orgs',
        'adoption': 'adoption', 'rejected_records': '_rejects',
        'file_loads': '_meta/file_loads.parquet', 'sources': '_meta/sources.parquet'} -%}
    {%- if execute -%}
        {%- do run_query('create database if not exists lake') -%}
        {%- for name, path in tables.items() -%}
            {%- do run_query('drop table if exists lake.' ~ name) -%}
            {%- do run_query("create table lake." ~ name ~ " using parquet options (path '" ~ lake ~ "/" ~ path
                             ~ "', recursiveFileLookup 'true')") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
