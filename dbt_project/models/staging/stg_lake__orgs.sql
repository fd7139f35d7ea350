{{ config(**read_outside_dbt_config()) }}
with source as (
    {{ loaded_records('orgs') }}
),

renamed as (
    select
        cast(source_id as string) as source_id,
        cast(org_id as string) as org_id,
        cast(org_name as string) as org_name,
        upper(cast(org_type as string)) as org_type,
        cast(joined_date as date) as joined_date,
        cast(file_name as string) as file_name,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(line_no as integer) as line_no,
        cast(load_order as bigint) as load_order
    from source
)

select * from renamed
