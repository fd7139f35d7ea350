{#- Only records of deliveries the ledger holds LOADED: a lake batch file can still hold
    the records of a delivery superseded since (docs/LAKE.md). -#}
with source as (
    select lake.* from {{ source('lake', 'lifecycle') }} as lake
    semi join (
        select source_id, file_name from {{ source('lake', 'file_loads') }} where outcome = 'LOADED'
    ) as loaded using (source_id, file_name)
),

renamed as (
    select
        {{ lifecycle_columns() }}
    from source
)

select * from renamed
