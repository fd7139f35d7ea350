{#- The lake as Spark tables: dbt-duckdb reads each source's `external_location`, Spark reads tables.
    `on-run-start` (dbt_project.yml) re-creates the external Parquet tables of schema `lake` over
    NUMLAKE_LAKE at each run, so new delivery files are listed afresh. The tables are those of
    models/sources.yml (source `lake`, each with its `files`), so a new source needs nothing here.
    A feed folder is read with `recursiveFileLookup` and the columns of its `_schema.parquet`:
    Spark skips files whose name starts with `_`, so it could not infer the schema of a feed with no
    delivery yet; `orchestration.engine.copy_lake_schemas` copies each `<folder>/_schema.parquet` to
    `<spark warehouse>/lake_schemas/<folder>/schema.parquet`, a name Spark reads. Nothing on DuckDB. -#}
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
    {%- set lake = env_var('NUMLAKE_LAKE').rstrip('/') -%}
    {%- set schemas = env_var('NUMLAKE_SPARK_WAREHOUSE').rstrip('/') ~ '/lake_schemas' -%}
    {%- if execute -%}
        {%- do run_query('create database if not exists lake') -%}
        {%- for src in graph.sources.values() if src.source_name == 'lake' -%}
            {%- set files = src.meta['files'] -%}
            {%- do run_query('drop table if exists lake.' ~ src.name) -%}
            {%- if files.endswith('/**/*.parquet') -%}
                {%- set folder = files[:-('/**/*.parquet' | length)] -%}
                {%- set described = run_query('describe query select * from parquet.`' ~ schemas ~ '/'
                                              ~ folder ~ '/schema.parquet`') -%}
                {%- set columns = [] -%}
                {%- for row in described -%}
                    {%- do columns.append('`' ~ row[0] ~ '` ' ~ row[1]) -%}
                {%- endfor -%}
                {%- do run_query('create table lake.' ~ src.name ~ ' (' ~ columns | join(', ') ~ ") using parquet"
                                 ~ " options (path '" ~ lake ~ '/' ~ folder ~ "', recursiveFileLookup 'true')") -%}
            {%- else -%}
                {%- do run_query('create table lake.' ~ src.name ~ " using parquet options (path '"
                                 ~ lake ~ '/' ~ files ~ "')") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{#- Spark writes no file for a partitioned table without rows, so `expose_marts` could not tell
    its columns: `on-run-end` writes a zero-row Parquet file of each partitioned table's columns to
    `<spark warehouse>/table_schemas/<schema>/<table>/`, read when the table has no file. -#}
{% macro record_table_schemas() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('record_table_schemas', 'numlake')()) }}
    {%- else -%}
        {{ return('select 1') }}
    {%- endif -%}
{%- endmacro %}

{% macro default__record_table_schemas() -%}
    select 1
{%- endmacro %}

{% macro spark__record_table_schemas() -%}
    {%- set root = env_var('NUMLAKE_SPARK_WAREHOUSE').rstrip('/') ~ '/table_schemas' -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.get('partition_by') -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation is not none -%}
                {%- do run_query("insert overwrite directory '" ~ root ~ '/' ~ node.schema ~ '/' ~ node.alias
                                 ~ "' using parquet select * from " ~ relation ~ ' limit 0') -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
