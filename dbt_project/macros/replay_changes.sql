{#- Change detection of the incremental replay (int_number_events__replayed): which numbers'
    histories must be replayed again, and from which rows.

    A number is replayed again when it has records in new LOADED deliveries (read from their own
    Parquet files, not the whole lake) or records of deliveries no longer LOADED (superseded).
    Its whole history is replayed from the rows already replayed plus the new ones, and replaces
    the old (delete+insert by `msisdn_key`, the number as a BIGINT). `dbt build --full-refresh` replays everything.

    `replay_input()` emits the CTEs `lifecycle` (the events to replay) and `batch` (the number
    of this replay), for a full and an incremental build alike. -#}
{% macro replay_input() %}
{% if is_incremental() %}
    {% set files = known_replayed_files(this) %}
    {% set new_paths = new_lifecycle_files(this, files) %}
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
    semi join {{ new_lifecycle_deliveries(this, files) }} as new_deliveries using (source_id, file_name)
    {% else %}
    select * from {{ ref('stg_lake__lifecycle') }} where false
    {% endif %}
),

{{ replayed_histories(withdrawn_files(files) if files is not none else none) }}
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
    {%- set condition = withdrawn_lifecycle_rows() -%}
    {%- if condition == 'false' -%}
        select 1 /* no withdrawn records */
    {%- else -%}
    insert into {{ withdrawn_numbers(this) }}
    select distinct
        msisdn,
        (select coalesce(max(replay_batch), 0) + 1 from {{ this }}) as replay_batch
    from {{ this }}
    where {{ condition }}
    {%- endif -%}
{%- endmacro %}

{% macro drop_withdrawn_lifecycle_rows() -%}
    {%- set condition = withdrawn_lifecycle_rows() -%}
    {%- if condition == 'false' -%}
        select 1 /* no withdrawn records */
    {%- else -%}
    delete from {{ this }} where {{ condition }}
    {%- endif -%}
{%- endmacro %}

{#- The replay's rows of deliveries no longer LOADED: named by file when the replay's files are
    known (`replayed_files`; 'false' when none was withdrawn, the usual day), else found by
    scanning the whole replay. -#}
{% macro withdrawn_lifecycle_rows() -%}
    {%- set files = known_replayed_files(this) -%}
    {%- if files is not none -%}
        {{ file_name_in(withdrawn_files(files)) }}
    {%- else -%}
    file_name not in (
        {{ loaded_lifecycle_file_names() }}
    )
    {%- endif -%}
{%- endmacro %}

{% macro loaded_lifecycle_file_names() -%}
    select file_name from {{ ref('stg_lake__file_loads') }} where outcome = 'LOADED' and feed = 'lifecycle'
{%- endmacro %}

{#- `file_name in (...)` of a list of names; 'false' for none. -#}
{% macro file_name_in(names) -%}
    {%- if names -%}
        file_name in ({% for n in names %}'{{ n | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- The names of the files the replay holds rows of (DuckDB): a table of the replay's hooks, so that
    a daily build finds its new and withdrawn deliveries without reading the whole history for its
    distinct file names (8 M rows at the benchmark world's year). Kept by `record_replayed_files`
    after every build; filled from the whole replay when it is empty (a full refresh, or a
    warehouse built before the table existed). -#}
{% macro replayed_files(replayed) -%}
    {{ return(replayed.incorporate(path={'identifier': replayed.identifier ~ '__files'})) }}
{%- endmacro %}

{#- The replay's file table when it can be trusted (it exists and holds names), else none: the
    callers then scan the replay itself. -#}
{% macro known_replayed_files(replayed) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('known_replayed_files', 'numlake')(replayed)) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__known_replayed_files(replayed) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro default__known_replayed_files(replayed) -%}
    {%- set files = replayed_files(replayed) -%}
    {%- set found = query_rows(
        "select count(*) from information_schema.tables where table_catalog = '" ~ files.database
        ~ "' and table_schema = '" ~ files.schema ~ "' and table_name = '" ~ files.identifier ~ "'") -%}
    {%- if not found or found[0][0] == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set held = query_rows('select count(*) from (select 1 from ' ~ files ~ ' limit 1)') -%}
    {{ return(files if held and held[0][0] > 0 else none) }}
{%- endmacro %}

{#- Files of the replay whose deliveries are no longer LOADED (superseded by a redelivery). -#}
{% macro withdrawn_files(files) -%}
    {%- set rows = query_rows('select file_name from ' ~ files ~ ' where file_name not in ('
                              ~ loaded_lifecycle_file_names() ~ ') order by 1') -%}
    {{ return(rows | map(attribute=0) | list) }}
{%- endmacro %}

{% macro create_replayed_files(replayed) -%}
    create table if not exists {{ replayed_files(replayed) }} (file_name varchar)
{%- endmacro %}

{#- The replay's last post-hook: forget the withdrawn files (their rows are gone), add the files of
    this build's batch. On Spark the replay's hooks are rendered inside a comment and never run:
    nothing to render there. -#}
{% macro record_replayed_files() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('record_replayed_files', 'numlake')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__record_replayed_files() -%}
    record_replayed_files
{%- endmacro %}

{% macro default__record_replayed_files() -%}
    {%- set files = replayed_files(this) -%}
    {%- if flags.FULL_REFRESH or known_replayed_files(this) is none -%}
        delete from {{ files }};
        insert into {{ files }} select distinct file_name from {{ this }}
    {%- else -%}
        {%- set batch = query_rows('select coalesce(max(replay_batch), 0) from ' ~ this)[0][0] -%}
        delete from {{ files }} where file_name not in ({{ loaded_lifecycle_file_names() }});
        insert into {{ files }}
        select distinct file_name from {{ this }}
        where replay_batch = {{ batch }} and file_name not in (select file_name from {{ files }})
    {%- endif -%}
{%- endmacro %}

{#- Paths of the lifecycle Parquet files holding LOADED deliveries the replay has not seen yet
    (docs/LAKE.md: lake/lifecycle/batches/<batch>.parquet, one file per ingestion batch, or
    lake/lifecycle/<source_id>/<stem>.parquet of the first layout), keeping only files that
    exist (a delivery without records has none). The caller keeps only the rows of those
    deliveries (`new_lifecycle_deliveries`). A delivery none of whose records loaded never shows
    up in the replay: without `rows_loaded > 0` its batch file, which holds the records of many
    other deliveries, would be read again by every build. -#}
{% macro new_lifecycle_files(replayed, files=none) %}
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
            from {{ new_lifecycle_deliveries(replayed, files) }}
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

{#- `files`: the replay's file table (`known_replayed_files`), or none to read the replay itself. -#}
{% macro new_lifecycle_deliveries(replayed, files=none) %}
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
            and file_name not in (select {% if files is none %}distinct {% endif %}file_name from {{ files if files is not none else replayed }})
    )
{% endmacro %}

{#- After `loaded_files` and `new_events` (each engine reads the new deliveries its own way): the
    numbers to replay again, their whole histories (kept rows plus new ones) as `lifecycle`, and
    this replay's `batch`. `withdrawn`: the names of the replay's files no longer LOADED when they
    are known (`withdrawn_files`, DuckDB; usually none), so that the history is read once, for the
    affected numbers; none to find them by scanning it. -#}
{% macro replayed_histories(withdrawn=none) %}
affected as (
    {%- if withdrawn is none %}
    select msisdn from new_events
    union
    select msisdn from {{ this }} where file_name not in (select file_name from loaded_files)
    {%- elif withdrawn %}
    select msisdn from new_events
    union
    select msisdn from {{ this }} where {{ file_name_in(withdrawn) }}
    {%- else %}
    select distinct msisdn from new_events
    {%- endif %}
),

kept_events as (
    select
        source_id, event_id, msisdn, event_type, event_time, subscriber_id,
        file_name, business_date, seq, line_no, load_order
    from {{ this }}
    where
        {{ rows_of_numbers(this, 'select msisdn from affected') }}
        {%- if withdrawn is none %}
        and file_name in (select file_name from loaded_files)
        {%- elif withdrawn %}
        and not {{ file_name_in(withdrawn) }}
        {%- endif %}
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

{#- The rows of `relation` whose msisdn is one of `numbers` (a query). On DuckDB the numbers are
    found by their `msisdn_key` column alone and then the rows fetched by row id: a semi-join would read
    every column of every row of the whole history (8.3 M rows at the benchmark world's year) to
    keep the ~34,000 rows of a day's ~11,000 touched numbers (BENCHMARKS.md). -#}
{% macro rows_of_numbers(relation, numbers) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('rows_of_numbers', 'numlake')(relation, numbers)) }}
    {%- else -%}
        {{ return(default__rows_of_numbers(relation, numbers)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__rows_of_numbers(relation, numbers) -%}
    msisdn in ({{ numbers }})
{%- endmacro %}

{% macro duckdb__rows_of_numbers(relation, numbers) -%}
    rowid in (
        select rowid from {{ relation }}
        where msisdn_key in (select {{ msisdn_key('numbers.msisdn') }} from ({{ numbers }}) as numbers)
    )
{%- endmacro %}
