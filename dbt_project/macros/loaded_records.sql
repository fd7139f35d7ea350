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
