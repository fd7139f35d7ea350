{{ config(**row_incremental_config(
    unique_key=['source_id', 'complaint_id'],
    post_hook="{{ drop_withdrawn_complaints() }}",
)) }}
-- depends_on: {{ ref('stg_lake__file_loads') }}
{#- INTERCHANGE 3.2: a complaint (source, complaint_id) is reported again whenever it changes;
    its current state is the latest report: business date, then sequence, then line.

    Incremental (DuckDB): a complaint's current state changes only when a report of it arrives or
    one is withdrawn. A build recomputes the complaints reported in deliveries loaded since the
    table's last build (load order above the table's highest: it is monotonic across runs,
    docs/LAKE.md) and those whose current report's delivery is no longer LOADED (a withdrawn
    report that was not the latest changes nothing); `delete+insert` replaces their rows, and the
    post-hook drops the rows of complaints left with no report at all. -#}
{%- set seen = -1 -%}
{%- if is_incremental() -%}
    {%- set rows = query_rows('select coalesce(max(load_order), -1) from ' ~ this) -%}
    {%- set seen = rows[0][0] if rows else -1 -%}
{%- endif %}
with complaints as (
    select * from {{ ref('stg_lake__complaints') }}
),

{% if is_incremental() %}
    loaded as (
        {{ loaded_deliveries(['complaints']) }}
    ),

    changed as (
        {#- the staging view itself, not the CTE: a CTE read twice is materialized whole by DuckDB,
            where this filter prunes the lake's row groups -#}
        select
            source_id,
            complaint_id
        from {{ ref('stg_lake__complaints') }}
        where load_order > {{ seen }}
        union
        select
            current_state.source_id,
            current_state.complaint_id
        from {{ this }} as current_state
        anti join loaded using (source_id, file_name)
    ),

    reports as (
        select complaints.*
        from complaints
        semi join changed using (source_id, complaint_id)
    ),
{% else %}
    reports as (
        select * from complaints
    ),
{% endif %}

final as (
    select *
    from reports
    qualify row_number() over (
        partition by source_id, complaint_id
        order by business_date desc, seq desc, load_order desc, line_no desc
    ) = 1
)

select * from final
