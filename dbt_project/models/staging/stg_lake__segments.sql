{{ config(**read_outside_dbt_config()) }}
with source as (
    {{ loaded_records('segments') }}
),

renamed as (
    select
        cast(source_id as string) as source_id,
        cast(segment as string) as segment,
        upper(cast(segment_type as string)) as segment_type,
        cast(opened_date as date) as opened_date,
        cast(file_name as string) as file_name,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(line_no as integer) as line_no,
        cast(load_order as bigint) as load_order
    from source
)

select * from renamed
