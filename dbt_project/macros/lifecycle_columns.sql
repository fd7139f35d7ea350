{#- The typed lifecycle columns of docs/LAKE.md, shared by the staging view and the
    incremental replay, which reads only the Parquet files of new deliveries. -#}
{% macro lifecycle_columns() %}
        cast(source_id as varchar) as source_id,
        cast(event_id as varchar) as event_id,
        cast(msisdn as varchar) as msisdn,
        upper(cast(event_type as varchar)) as event_type,
        cast(event_time as timestamp) as event_time,
        cast(subscriber_id as varchar) as subscriber_id,
        cast(file_name as varchar) as file_name,
        cast(business_date as date) as business_date,
        cast(seq as integer) as seq,
        cast(line_no as integer) as line_no,
        cast(load_order as bigint) as load_order
{% endmacro %}

{#- Paths of the lifecycle Parquet files holding LOADED deliveries the replay has not seen yet
    (docs/LAKE.md: lake/lifecycle/batches/<batch>.parquet, one file per ingestion batch, or
    lake/lifecycle/<source_id>/<stem>.parquet of the first layout), keeping only files that
    exist (a delivery without records has none). The
    caller keeps only the rows of those deliveries (`new_lifecycle_deliveries`). -#}
{% macro new_lifecycle_files(replayed) %}
    {% set lake = env_var('NUMLAKE_LAKE', '../.numlake/lake').rstrip('/') %}
    {% set query %}
        with ledger as (
            select distinct
                '{{ lake }}/lifecycle/'
                || case when starts_with(lake_stem, 'batches/') then lake_stem else source_id || '/' || lake_stem end
                || '.parquet' as path
            from {{ new_lifecycle_deliveries(replayed) }}
        ),

        present as (
            select file as path from glob('{{ lake }}/lifecycle/*/*.parquet')
        )

        select ledger.path from ledger inner join present on present.path = ledger.path order by 1
    {% endset %}
    {% set paths = [] %}
    {% if execute %}
        {% for row in run_query(query) %}
            {% do paths.append(row[0]) %}
        {% endfor %}
    {% endif %}
    {{ return(paths) }}
{% endmacro %}

{% macro new_lifecycle_deliveries(replayed) %}
    (
        select source_id, file_name, lake_stem
        from {{ ref('stg_lake__file_loads') }}
        where outcome = 'LOADED'
            and feed = 'lifecycle'
            and lake_stem is not null
            and file_name not in (select distinct file_name from {{ replayed }})
    )
{% endmacro %}
