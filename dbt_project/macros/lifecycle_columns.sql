{#- The typed lifecycle columns of docs/LAKE.md, shared by the staging view and the
    incremental replay, which reads only the Parquet files of new deliveries. -#}
{% macro lifecycle_columns() %}
        cast(source_id as string) as source_id,
        cast(event_id as string) as event_id,
        cast(msisdn as string) as msisdn,
        upper(cast(event_type as string)) as event_type,
        cast(event_time as timestamp) as event_time,
        cast(subscriber_id as string) as subscriber_id,
        cast(file_name as string) as file_name,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(line_no as integer) as line_no,
        cast(load_order as bigint) as load_order
{% endmacro %}
