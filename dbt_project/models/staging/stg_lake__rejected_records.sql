with source as (
    {{ loaded_records('rejected_records') }}
),

renamed as (
    select
        cast(source_id as string) as source_id,
        cast(feed as string) as feed,
        cast(file_name as string) as file_name,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(line_no as integer) as line_no,
        cast(reason as string) as reason,
        cast(raw as string) as raw
    from source
)

select * from renamed
