with source as (
    select * from {{ source('lake', 'sources') }}
),

renamed as (
    select
        cast(source_id as varchar) as source_id,
        cast(name as varchar) as source_name,
        cast(kind as varchar) as kind,
        cast(carrier as varchar) as carrier,
        cast(province as varchar) as province
    from source
)

select * from renamed
