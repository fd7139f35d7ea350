{%- set columns = [
    'source_id', 'feed', 'business_date', 'seq', 'file_name', 'outcome', 'reason', 'detail', 'rows_declared',
    'rows_loaded', 'rows_rejected', 'path', 'md5', 'size_bytes', 'first_seen_at', 'decided_at', 'load_order', 'run_id',
] -%}
{{ config(**row_incremental_config(
    pre_hook="{{ drop_rows_not_current(ref('stg_lake__file_loads'), " ~ columns ~ ") }}",
)) }}
{#- Incremental (DuckDB): the ledger's rows are compared whole with the table's; the pre-hook drops
    those the ledger no longer holds as they are (an outcome changed, a delivery decided again), and
    the build appends the ledger's rows the table does not hold. A day's build writes its ~200 new
    rows instead of the year's ~77,000. -#}
with file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

final as (
    select
        {{ columns | join(',\n        ') }}
    from file_loads
    {%- if is_incremental() %}
    where {{ row_not_in('file_loads', this, columns) }}
    {%- endif %}
)

select * from final
