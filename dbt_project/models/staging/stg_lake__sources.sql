with source as (
    select * from {{ source('lake', 'sources') }}
),

renamed as (
    select
        cast(source_id as varchar) as source_id,
        cast(name as varchar) as source_name,
        cast(kind as varchar) as kind,
        cast(carrier as varchar) as carrier,
        cast(province as varchar) as province,
        cast(format as varchar) as format,
        cast(encoding as varchar) as encoding,
        cast(delimiter as varchar) as delimiter,
        cast(header as varchar) as header,
        cast(codes as varchar) as codes,
        cast(time_format as varchar) as time_format,
        cast(compression as varchar) as compression
    from source
)

select * from renamed
