{#- Where DuckDB (target `warehouse`) and Spark SQL (target `spark`, dbt-spark) differ, found by
    building a copy of the project on Spark 4.3 (docs/SCALE.md, "The dbt project on Spark").
    Each difference is one dispatched macro; a model calls the macro, never an engine's own
    spelling. Casts need no macro: `string` is a type name of both (`varchar` alone is not Spark's).
    Without `adapter` (sqlfluff's jinja templater) each macro renders its DuckDB spelling, which is
    what the linter's dialect reads. -#}

{#- The wall-clock time in China now, as a timestamp without time zone. Spark's session time zone
    is Asia/Shanghai (profiles.yml), so its local time is that. -#}
{% macro china_now() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('china_now', 'numlake')()) }}
    {%- else -%}
        {{ return(default__china_now()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__china_now() -%}
    cast(timezone('Asia/Shanghai', current_timestamp) as timestamp)
{%- endmacro %}

{% macro spark__china_now() -%}
    cast(current_timestamp() as timestamp_ntz)
{%- endmacro %}

{#- Calendar days from `start` to `end` (day boundaries crossed), for dates and timestamps. -#}
{% macro days_between(start, end) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('days_between', 'numlake')(start, end)) }}
    {%- else -%}
        {{ return(default__days_between(start, end)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__days_between(start, end) -%}
    datediff('day', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__days_between(start, end) -%}
    datediff({{ end }}, {{ start }})
{%- endmacro %}

{#- Microseconds from timestamp `start` to timestamp `end`, both without time zone (CST wall times,
    INTERCHANGE 2.3), as N days = N x 24 h (RULES). Spark counts from the values' own date and
    time of day: through `timestamp_ltz` (or `timestampdiff`) it would use the session zone,
    Asia/Shanghai, which kept daylight saving time in 1940-49 and 1986-91 and local mean time
    (+08:05:43) before 1901, and a complaint of 1988 resolved in 2026 took an hour more than on
    DuckDB. -#}
{% macro microseconds_between(start, end) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('microseconds_between', 'numlake')(start, end)) }}
    {%- else -%}
        {{ return(default__microseconds_between(start, end)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__microseconds_between(start, end) -%}
    (epoch_us({{ end }}) - epoch_us({{ start }}))
{%- endmacro %}

{% macro spark__microseconds_between(start, end) -%}
    ({{ spark__wall_micros(end) }} - {{ spark__wall_micros(start) }})
{%- endmacro %}

{#- Microseconds from 1970-01-01 00:00 to the wall time `ts` (no time zone on Spark's side). -#}
{% macro spark__wall_micros(ts) -%}
    (cast(unix_date(cast({{ ts }} as date)) as bigint) * 86400000000
        + cast(hour({{ ts }}) as bigint) * 3600000000 + cast(minute({{ ts }}) as bigint) * 60000000
        + cast(date_part('SECOND', {{ ts }}) * 1000000 as bigint))
{%- endmacro %}

{#- Inside `last_value(expr {{ ignoring_nulls() }}) over w`: skip nulls (DuckDB's `ignore nulls`
    inside the call, Spark's second argument). -#}
{% macro ignoring_nulls() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('ignoring_nulls', 'numlake')()) }}
    {%- else -%}
        {{ return(default__ignoring_nulls()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__ignoring_nulls() -%}
    ignore nulls
{%- endmacro %}

{% macro spark__ignoring_nulls() -%}
    , true
{%- endmacro %}

{#- `value` of the row with the largest `key` (an aggregate). -#}
{% macro value_at_max(value, key) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('value_at_max', 'numlake')(value, key)) }}
    {%- else -%}
        {{ return(default__value_at_max(value, key)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__value_at_max(value, key) -%}
    arg_max({{ value }}, {{ key }})
{%- endmacro %}

{% macro spark__value_at_max(value, key) -%}
    max_by({{ value }}, {{ key }})
{%- endmacro %}

{% macro text_starts_with(text, prefix) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('text_starts_with', 'numlake')(text, prefix)) }}
    {%- else -%}
        {{ return(default__text_starts_with(text, prefix)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__text_starts_with(text, prefix) -%}
    starts_with({{ text }}, {{ prefix }})
{%- endmacro %}

{% macro spark__text_starts_with(text, prefix) -%}
    startswith({{ text }}, {{ prefix }})
{%- endmacro %}

{#- One row per value from `start` to `stop` by `step` (an interval), in a select list:
    `select {{ series('a', 'b', 'interval 1 day') }} as day from t`. -#}
{% macro series(start, stop, step) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('series', 'numlake')(start, stop, step)) }}
    {%- else -%}
        {{ return(default__series(start, stop, step)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__series(start, stop, step) -%}
    unnest(generate_series({{ start }}, {{ stop }}, {{ step }}))
{%- endmacro %}

{% macro spark__series(start, stop, step) -%}
    explode(sequence({{ start }}, {{ stop }}, {{ step }}))
{%- endmacro %}

{#- One row per calendar day from date `start` to date `stop`, as dates, in a select list. Spark
    cannot cast a generator's output in the same expression, DuckDB's series of dates is timestamps. -#}
{% macro day_series(start, stop) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('day_series', 'numlake')(start, stop)) }}
    {%- else -%}
        {{ return(default__day_series(start, stop)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__day_series(start, stop) -%}
    cast({{ series('cast(' ~ start ~ ' as timestamp)', 'cast(' ~ stop ~ ' as timestamp)', 'interval 1 day') }} as date)
{%- endmacro %}

{% macro spark__day_series(start, stop) -%}
    {{ series('cast(' ~ start ~ ' as date)', 'cast(' ~ stop ~ ' as date)', 'interval 1 day') }}
{%- endmacro %}

{#- A staging model that a reader outside dbt needs (the notices' portal reads the lineage of the
    orgs and segments reports, numlake/notices/portal.py): a table on DuckDB (a view would read the
    lake, which a reader of warehouse.duckdb cannot when the lake is on an object store only dbt's
    connection has registered), a Parquet table on Spark, whose files `expose_marts` can show in
    warehouse.duckdb (a Spark view has none). -#}
{% macro read_outside_dbt_config() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('read_outside_dbt_config', 'numlake')()) }}
    {%- else -%}
        {{ return(default__read_outside_dbt_config()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__read_outside_dbt_config() -%}
    {{ return({'materialized': 'table'}) }}
{%- endmacro %}

{% macro spark__read_outside_dbt_config() -%}
    {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
{%- endmacro %}
