with source as (
    {{ loaded_records('complaints') }}
),

renamed as (
    select
        cast(source_id as string) as source_id,
        cast(complaint_id as string) as complaint_id,
        cast(received_time as timestamp) as received_time,
        cast(msisdn as string) as msisdn,
        upper(cast(category as string)) as category,
        cast(org_id as string) as org_id,
        upper(cast(status as string)) as status,
        cast(resolved_time as timestamp) as resolved_time,
        upper(cast(resolution as string)) as resolution,
        cast(file_name as string) as file_name,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(line_no as integer) as line_no,
        cast(load_order as bigint) as load_order
    from source
)

select * from renamed
