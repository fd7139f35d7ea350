{{ config(**partition_incremental_config('business_month')) }}
-- depends_on: {{ ref('stg_lake__file_loads') }}
{# Change detection of the monthly marts: one row per lifecycle or complaints delivery whose
    records reached the warehouse, with the earliest time in it, when it was first seen
    (`built_at`) and when it stopped being LOADED (`withdrawn_at`, a supersede). A monthly mart
    rebuilds the months at and after the earliest time of every delivery seen or withdrawn since
    its own last build: the replay is causal, so nothing before that instant changed. A withdrawn
    delivery's records are gone from the warehouse, which is why its earliest time is kept here.
    New deliveries are those with a load order above every one already tracked (the load order is
    monotonic across runs, docs/LAKE.md). -#}
{#- The highest load order tracked per feed, read before the build: a constant filter lets the
    scans skip the row groups (and lake files) of deliveries already tracked. -#}
{%- set seen = {'lifecycle': -1, 'complaints': -1} -%}
{%- if is_incremental() -%}
    {%- for row in query_rows('select feed, max(load_order) from ' ~ this ~ ' group by feed') -%}
        {%- do seen.update({row[0]: row[1]}) -%}
    {%- endfor -%}
{%- endif %}
with lifecycle_files as (
    select
        source_id,
        'lifecycle' as feed,
        file_name,
        business_date,
        min(event_time) as first_time,
        max(load_order) as load_order
    from {{ ref('int_number_events__replayed') }}
    {% if is_incremental() %}
        where load_order > {{ seen['lifecycle'] }}
    {% endif %}
    group by source_id, file_name, business_date
),

complaints_files as (
    select
        source_id,
        'complaints' as feed,
        file_name,
        business_date,
        min(least(received_time, coalesce(resolved_time, received_time))) as first_time,
        max(load_order) as load_order
    from {{ ref('stg_lake__complaints') }}
    {% if is_incremental() %}
        where load_order > {{ seen['complaints'] }}
    {% endif %}
    group by source_id, file_name, business_date
),

new_files as (
    select
        source_id,
        feed,
        file_name,
        business_date,
        first_time,
        load_order,
        {{ build_started_at() }} as built_at,
        cast(null as timestamp) as withdrawn_at
    from lifecycle_files
    union all
    select
        source_id,
        feed,
        file_name,
        business_date,
        first_time,
        load_order,
        {{ build_started_at() }} as built_at,
        cast(null as timestamp) as withdrawn_at
    from complaints_files
),

{% if is_incremental() %}
    loaded as (
        {{ loaded_deliveries(['lifecycle', 'complaints']) }}
    ),

    tracked as (
        select
            source_id,
            feed,
            file_name,
            business_date,
            first_time,
            load_order,
            built_at,
            case
                when
                    withdrawn_at is null
                    and not exists (
                        select 1 from loaded
                        where loaded.source_id = t.source_id and loaded.file_name = t.file_name
                    )
                    then {{ build_started_at() }}
                else withdrawn_at
            end as withdrawn_at
        from {{ this }} as t
    ),

    changed as (
        select
            source_id,
            feed,
            file_name,
            business_date,
            first_time,
            load_order,
            built_at,
            withdrawn_at
        from new_files
        union all
        select
            source_id,
            feed,
            file_name,
            business_date,
            first_time,
            load_order,
            built_at,
            withdrawn_at
        from tracked
        where withdrawn_at = {{ build_started_at() }}
    ),

    rows_out as (
        {#- Every row of each business month touched: the changed ones and the others kept. -#}
        select * from changed
        union all
        select tracked.*
        from tracked
        where
            cast(date_trunc('month', tracked.business_date) as date) in (
                select cast(date_trunc('month', changed.business_date) as date) from changed
            )
            and tracked.withdrawn_at is distinct from {{ build_started_at() }}
    ),
{% else %}
    rows_out as (
        select * from new_files
    ),
{% endif %}

final as (
    select
        source_id,
        feed,
        file_name,
        business_date,
        first_time,
        load_order,
        built_at,
        withdrawn_at,
        cast(date_trunc('month', business_date) as date) as business_month
    from rows_out
)

select * from final
