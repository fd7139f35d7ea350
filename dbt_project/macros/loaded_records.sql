{#- The records of `source('lake', feed)` that belong to a delivery the ledger holds LOADED.
    A lake batch file can still hold the records of a delivery superseded since it was written
    (docs/LAKE.md), so every staging model of a feed reads its lake table through this filter. -#}
{% macro loaded_records(feed) %}
    select lake.*
    from {{ source('lake', feed) }} as lake
    semi join (
        select
            source_id,
            file_name
        from {{ source('lake', 'file_loads') }}
        where outcome = 'LOADED'
    ) as loaded using (source_id, file_name)
{% endmacro %}

{#- The post-hook of int_complaints__deduplicated: drop the complaints whose current report's
    delivery is no longer LOADED. Those still reported elsewhere were replaced by the build; the
    rows left are of complaints whose every report was withdrawn. -#}
{% macro drop_withdrawn_complaints() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as current_state
        where not exists (
            select 1 from {{ ref('stg_lake__file_loads') }} as loaded
            where
                loaded.outcome = 'LOADED' and loaded.feed = 'complaints'
                and loaded.source_id = current_state.source_id and loaded.file_name = current_state.file_name
        )
    {%- else -%}
        select 1 /* first build: every row is of a loaded delivery */
    {%- endif -%}
{%- endmacro %}

{#- The (source_id, file_name) of the deliveries of `feeds` the ledger holds LOADED. -#}
{% macro loaded_deliveries(feeds) %}
    select
        source_id,
        file_name
    from {{ ref('stg_lake__file_loads') }}
    where outcome = 'LOADED' and feed in ({% for f in feeds %}'{{ f }}'{% if not loop.last %}, {% endif %}{% endfor %})
{% endmacro %}
