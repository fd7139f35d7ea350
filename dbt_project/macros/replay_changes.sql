{#- Change detection of the incremental replay (int_number_events__replayed): which numbers'
    histories must be replayed again, and from which rows.

    A number is replayed again when it has records in new LOADED deliveries (read from their own
    Parquet files, not the whole lake) or records of deliveries no longer LOADED (superseded).
    Its whole history is replayed from the rows already replayed plus the new ones, and replaces
    the old (delete+insert by msisdn). `dbt build --full-refresh` replays everything.

    `replay_input()` emits the CTEs `lifecycle` (the events to replay) and `batch` (the number
    of this replay), for a full and an incremental build alike. -#}
{% macro replay_input() %}
{% if is_incremental() %}
    {% set new_paths = new_lifecycle_files(this) %}
loaded_files as (
    select distinct file_name
    from {{ ref('stg_lake__file_loads') }}
    where outcome = 'LOADED' and feed = 'lifecycle'
),

new_events as (
    {% if new_paths %}
    select
        {{ lifecycle_columns() }}
    from read_parquet([{% for p in new_paths %}'{{ p }}'{% if not loop.last %}, {% endif %}{% endfor %}]) as lake
    semi join {{ new_lifecycle_deliveries(this) }} as new_deliveries using (source_id, file_name)
    {% else %}
    select * from {{ ref('stg_lake__lifecycle') }} where false
    {% endif %}
),

{{ replayed_histories() }}
{% else %}
lifecycle as (
    select * from {{ ref('stg_lake__lifecycle') }}
),

batch as (
    select 1 as replay_batch
),
{% endif %}
{% endmacro %}

{#- After a replay (its post-hooks, in this order): note the numbers of withdrawn records with
    the batch after this replay's (`withdrawn_numbers`, macros/replay_batches.sql), for the models
    that follow the replay, then drop the rows of withdrawn records: only numbers whose every
    record was withdrawn still have such rows (the others were replayed again without them). -#}
{% macro forget_withdrawn_numbers() -%}
    {%- if flags.FULL_REFRESH -%}
        delete from {{ withdrawn_numbers(this) }}
    {%- else -%}
        select 1 /* an incremental build keeps them */
    {%- endif -%}
{%- endmacro %}

{% macro note_withdrawn_numbers() -%}
    insert into {{ withdrawn_numbers(this) }}
    select distinct
        msisdn,
        (select coalesce(max(replay_batch), 0) + 1 from {{ this }}) as replay_batch
    from {{ this }}
    where {{ withdrawn_lifecycle_rows() }}
{%- endmacro %}

{% macro drop_withdrawn_lifecycle_rows() -%}
    delete from {{ this }} where {{ withdrawn_lifecycle_rows() }}
{%- endmacro %}

{% macro withdrawn_lifecycle_rows() -%}
    file_name not in (
        select file_name from {{ ref('stg_lake__file_loads') }} where outcome = 'LOADED' and feed = 'lifecycle'
    )
{%- endmacro %}

{#- Paths of the lifecycle Parquet files holding LOADED deliveries the replay has not seen yet
    (docs/LAKE.md: lake/lifecycle/batches/<batch>.parquet, one file per ingestion batch, or
    lake/lifecycle/<source_id>/<stem>.parquet of the first layout), keeping only files that
    exist (a delivery without records has none). The caller keeps only the rows of those
    deliveries (`new_lifecycle_deliveries`). A delivery none of whose records loaded never shows
    up in the replay: without `rows_loaded > 0` its batch file, which holds the records of many
    other deliveries, would be read again by every build. -#}
{% macro new_lifecycle_files(replayed) %}
    {% set lake = env_var('NUMLAKE_LAKE').rstrip('/') %}
    {% set query %}
        with ledger as (
            select distinct
                '{{ lake }}/lifecycle/'
                || case
                    when {{ text_starts_with('lake_stem', "'batches/'") }} then lake_stem
                    else source_id || '/' || lake_stem
                end
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
        select
            source_id,
            file_name,
            lake_stem
        from {{ ref('stg_lake__file_loads') }}
        where
            outcome = 'LOADED'
            and feed = 'lifecycle'
            and lake_stem is not null
            and rows_loaded > 0
            and file_name not in (select distinct file_name from {{ replayed }})
    )
{% endmacro %}

{#- After `loaded_files` and `new_events` (each engine reads the new deliveries its own way): the
    numbers to replay again, their whole histories (kept rows plus new ones) as `lifecycle`, and
    this replay's `batch`. -#}
{% macro replayed_histories() %}
affected as (
    select msisdn from new_events
    union
    select msisdn from {{ this }} where file_name not in (select file_name from loaded_files)
),

kept_events as (
    select
        source_id, event_id, msisdn, event_type, event_time, subscriber_id,
        file_name, business_date, seq, line_no, load_order
    from {{ this }}
    where
        msisdn in (select msisdn from affected)
        and file_name in (select file_name from loaded_files)
),

lifecycle as (
    select * from new_events
    union all
    select * from kept_events
),

batch as (
    select coalesce(max(replay_batch), 0) + 1 as replay_batch from {{ this }}
),
{% endmacro %}
