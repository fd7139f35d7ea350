with source as (
    select * from {{ source('lake', 'lifecycle') }}
),

renamed as (
    select
        {{ lifecycle_columns() }}
    from source
)

select * from renamed
