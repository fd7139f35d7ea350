{{ config(**row_incremental_config(pre_hook="{{ drop_rows_not_current(ref('stg_lake__file_loads')) }}")) }}
{#- Incremental (DuckDB): the ledger's rows are compared whole with the table's; the pre-hook drops
    those the ledger no longer holds as they are (an outcome changed, a delivery decided again), and
    the build appends the ledger's rows the table does not hold. A day's build writes its ~200 new
    rows instead of the year's ~77,000. -#}
with file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

final as (
    select
        source_id,
        feed,
        business_date,
        seq,
        file_name,
        outcome,
        reason,
        detail,
        rows_declared,
        rows_loaded,
        rows_rejected,
        path,
        md5,
        size_bytes,
        first_seen_at,
        decided_at,
        load_order,
        run_id
    from file_loads
)

select * from final
{%- if is_incremental() %}
    where {{ row_not_in('final', this) }}
{%- endif %}
