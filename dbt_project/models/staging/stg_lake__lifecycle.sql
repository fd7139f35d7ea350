with source as (
    {{ loaded_records('lifecycle') }}
),

renamed as (
    select
        {{ lifecycle_columns() }}
    from source
)

select * from renamed
