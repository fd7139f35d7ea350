with source as (
    select * from {{ source('lake', 'feeds') }}
),

renamed as (
    select
        cast(kind as string) as kind,
        cast(feed as string) as feed,
        cast(is_daily as boolean) as is_daily
    from source
)

select * from renamed
