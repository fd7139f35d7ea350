with source as (
    select * from {{ source('lake', 'sources') }}
),

renamed as (
    select
        cast(source_id as string) as source_id,
        cast(name as string) as source_name,
        cast(kind as string) as kind,
        cast(carrier as string) as carrier,
        cast(province as string) as province,
        cast(format as string) as format,
        cast(encoding as string) as encoding,
        cast(delimiter as string) as delimiter,
        cast(header as string) as header,
        cast(codes as string) as codes,
        cast(time_format as string) as time_format,
        cast(compression as string) as compression
    from source
)

select * from renamed
