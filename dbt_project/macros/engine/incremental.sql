{#- How the number-history models stay incremental on each engine.

    DuckDB: `delete+insert` by msisdn, after a pre-hook that drops the rows of numbers replayed
    again or withdrawn since the table's last build (`drop_rows_of_numbers_replayed_again`; the
    replay's post-hooks `note_withdrawn_numbers`, `drop_withdrawn_lifecycle_rows`).
    Spark without Delta or Iceberg (their jars cannot be fetched here) can neither delete nor
    merge into a Parquet table: the tables are partitioned by number block (`number_block`, the
    first five digits: ~100,000 numbers per block) and a build overwrites exactly the blocks it
    touches (`insert_overwrite`, dynamic partition overwrite). The partition column `history_block`
    exists only on Spark (`expose_marts` leaves it out of the views); a model whose own column is
    `number_block` (rule_findings) uses `partition_incremental_config('number_block')` instead.
    So on Spark a model emits every row
    of each block it touches: its new rows plus the kept rows of the block's other numbers
    (`history_select`), and what the DuckDB post-hooks delete is simply not kept.

    A model: `config(**history_incremental_config(post_hook=...))` and, as its last statement,
    `{{ history_select('final', ref('upstream')) }}` instead of `select * from final`. -#}

{% macro number_block(msisdn) -%}
    substr({{ msisdn }}, 1, 5)
{%- endmacro %}

{#- The block by which the findings are rewritten (`number_block` of int_rule_findings__raised and
    rule_findings). On Spark it is a partition: the number block above, few enough partitions.
    On DuckDB it is only a delete key, and a fine one keeps a day's work to what changed: the ~10k
    numbers a day replays fall in nearly all of the ~1,200 five-digit blocks, so a build rewrote
    nearly every finding; with the first nine digits (100 numbers) it rewrites ~5 % of them, at the
    price of more marker rows (one per block ever touched, plus its months). -#}
{% macro finding_block(msisdn) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('finding_block', 'numlake')(msisdn)) }}
    {%- else -%}
        {{ return(default__finding_block(msisdn)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__finding_block(msisdn) -%}
    substr({{ msisdn }}, 1, 9)
{%- endmacro %}

{% macro spark__finding_block(msisdn) -%}
    {{ number_block(msisdn) }}
{%- endmacro %}

{#- `post_hook` (DuckDB's deletes) is dropped on Spark, where `history_select` does their work.
    A block none of whose numbers has a row any more cannot be emitted: on Spark a post-hook
    drops it (`drop_emptied_partitions`, macros/engine/partitions.sql); `live` names the model
    and condition whose numbers' blocks still have rows, e.g. `('int_tenures__assembled', 'true')`. -#}
{% macro history_incremental_config(post_hook=none, live=none, pre_hook=none) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('history_incremental_config', 'numlake')(post_hook, live, pre_hook)) }}
    {%- else -%}
        {{ return(default__history_incremental_config(post_hook, live, pre_hook)) }}
    {%- endif -%}
{%- endmacro %}

{#- A model whose pre-hook already dropped every row of the numbers it rebuilds
    (`drop_rows_of_numbers_replayed_again`, macros/replay_batches.sql) appends its rows: dbt's own
    delete by unique key would scan the table again for rows that are no longer there. -#}
{% macro default__history_incremental_config(post_hook=none, live=none, pre_hook=none) -%}
    {%- set hooks = ([pre_hook] if pre_hook is string else pre_hook or []) | join(' ') -%}
    {%- if 'drop_rows_of_numbers_replayed_again' in hooks -%}
        {%- set settings = {'materialized': 'incremental', 'incremental_strategy': 'append', 'on_schema_change': 'fail'} -%}
    {%- else -%}
        {%- set settings = {'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': 'msisdn_key',
                            'on_schema_change': 'fail'} -%}
    {%- endif -%}
    {{ return(with_hooks(settings, pre_hook, post_hook)) }}
{%- endmacro %}

{#- `config` with its `pre_hook` and `post_hook` where given. -#}
{% macro with_hooks(config, pre_hook=none, post_hook=none) -%}
    {%- if pre_hook is not none -%}
        {%- do config.update({'pre_hook': pre_hook}) -%}
    {%- endif -%}
    {%- if post_hook is not none -%}
        {%- do config.update({'post_hook': post_hook}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{#- DuckDB's pre- and post-hooks are not run on Spark, but dbt infers a model's dependencies from its hooks
    too (the replay reads stg_lake__file_loads only in its incremental branch and its hook): they
    stay, rendered inside a comment of a no-op statement. -#}
{% macro spark__history_incremental_config(post_hook=none, live=none, pre_hook=none) -%}
    {%- set settings = spark_partition_overwrite_config('history_block') -%}
    {%- set hooks = [settings['post_hook']] -%}
    {%- if live is not none -%}
        {%- do hooks.append("{{ drop_emptied_partitions('history_block', live_number_blocks('" ~ live[0] ~ "', '"
                            ~ live[1] ~ "')) }}") -%}
    {%- endif -%}
    {%- for hook in ([post_hook] if post_hook is string else post_hook or [])
                    + ([pre_hook] if pre_hook is string else pre_hook or []) -%}
        {%- do hooks.append('select 1 /* on DuckDB: ' ~ hook ~ ' */') -%}
    {%- endfor -%}
    {%- do settings.update({'post_hook': hooks}) -%}
    {{ return(settings) }}
{%- endmacro %}

{% macro live_number_blocks(model, condition) -%}
    select distinct {{ number_block('msisdn') }} from {{ ref(model) }} where {{ condition }}
{%- endmacro %}

{#- Incremental by a partition column (e.g. `month`) whose every row a build emits for each value it
    touches: DuckDB replaces the rows of those values (`delete+insert`), Spark their partitions. -#}
{% macro partition_incremental_config(column, post_hook=none) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('partition_incremental_config', 'numlake')(column, post_hook)) }}
    {%- else -%}
        {{ return(default__partition_incremental_config(column, post_hook)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__partition_incremental_config(column, post_hook=none) -%}
    {%- set config = {'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': column,
                      'on_schema_change': 'fail'} -%}
    {%- if post_hook is not none -%}
        {%- do config.update({'post_hook': post_hook}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{% macro spark__partition_incremental_config(column, post_hook=none) -%}
    {{ return(spark_partition_overwrite_config(column)) }}
{%- endmacro %}

{#- The stage table of `get_insert_overwrite_sql` below is dropped after each build. -#}
{% macro spark_partition_overwrite_config(column) -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite', 'partition_by': [column],
               'file_format': 'parquet', 'on_schema_change': 'fail',
               'post_hook': 'drop table if exists {{ this }}__dbt_stage'}) }}
{%- endmacro %}

{#- dbt-spark's `insert_overwrite` (overridden here): `insert overwrite ... select from` the model's
    temporary view. A model that keeps rows of its own table reads the table it overwrites, which
    Spark refuses; so the view's rows are first written to a stage table, then the touched
    partitions are overwritten from it. -#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) %}
    {%- set stage = target_relation.incorporate(path={'identifier': target_relation.identifier ~ '__dbt_stage'}) -%}
    {%- do run_query('drop table if exists ' ~ stage) -%}
    {%- do run_query('create table ' ~ stage ~ ' using parquet as select * from ' ~ source_relation) -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target_relation) -%}
    insert overwrite table {{ target_relation }}
    {{ partition_cols(label='partition') }}
    select {{ dest_columns | map(attribute='quoted') | join(', ') }} from {{ stage }}
{% endmacro %}

{#- The last statement of a number-history model: its rows, `new_rows` (a CTE of numbers
    rebuilt in this build). On Spark each row also carries its `history_block` (the partition,
    a last column that `expose_marts` leaves out), and an incremental build adds the rows of
    `this` in every block it touches that are still current: their number's latest replay in
    `upstream` is the one they were built from. A block is touched when it gets new rows or holds
    rows no longer current (a number replayed again, or whose records were all withdrawn). -#}
{% macro history_select(new_rows, upstream) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('history_select', 'numlake')(new_rows, upstream)) }}
    {%- else -%}
        {{ return(default__history_select(new_rows, upstream)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__history_select(new_rows, upstream) -%}
    select * from {{ new_rows }}
{%- endmacro %}

{% macro spark__history_select(new_rows, upstream) -%}
    select
        *,
        {{ number_block('msisdn') }} as history_block
    from {{ new_rows }}
    {%- if is_incremental() %}
    union all
    select kept.*
    from {{ this }} as kept
    where
        kept.history_block in (
            select {{ number_block('msisdn') }} from {{ new_rows }}
            union
            select stale.history_block
            from {{ this }} as stale
            left anti join {{ upstream }} as current_rows
                on current_rows.msisdn = stale.msisdn and current_rows.replay_batch = stale.replay_batch
        )
        and exists (
            select 1 from {{ upstream }} as current_rows
            where current_rows.msisdn = kept.msisdn and current_rows.replay_batch = kept.replay_batch
        )
    {%- endif %}
{%- endmacro %}

{#- The replay's own last statement (int_number_events__replayed): the replayed numbers' rows and,
    on Spark, the rows of `this` in the blocks of the replayed (`affected`, from
    `history_replay_input`) numbers that were not replayed. A number whose records were all
    withdrawn is affected and gets no row: what DuckDB's post-hook deletes. -#}
{% macro replay_select(new_rows) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('replay_select', 'numlake')(new_rows)) }}
    {%- else -%}
        {{ return(default__replay_select(new_rows)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__replay_select(new_rows) -%}
    select * from {{ new_rows }}
{%- endmacro %}

{% macro spark__replay_select(new_rows) -%}
    select
        *,
        {{ number_block('msisdn') }} as history_block
    from {{ new_rows }}
    {%- if is_incremental() %}
    union all
    select kept.*
    from {{ this }} as kept
    left anti join affected on affected.msisdn = kept.msisdn
    where kept.history_block in (select {{ number_block('msisdn') }} from affected)
    {%- endif %}
{%- endmacro %}

{#- The replay's input CTEs `lifecycle`, `batch` and (incremental) `affected`: DuckDB's
    `replay_input()` reads the Parquet files of new deliveries by path (`read_parquet`, `glob`);
    Spark reads the lake's table through staging and keeps the rows of new deliveries. -#}
{% macro history_replay_input() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('history_replay_input', 'numlake')()) }}
    {%- else -%}
        {{ return(default__history_replay_input()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__history_replay_input() -%}
    {{ return(replay_input()) }}
{%- endmacro %}

{% macro spark__history_replay_input() %}
{% if is_incremental() %}
loaded_files as (
    select distinct file_name
    from {{ ref('stg_lake__file_loads') }}
    where outcome = 'LOADED' and feed = 'lifecycle'
),

new_events as (
    select lake.*
    from {{ ref('stg_lake__lifecycle') }} as lake
    left semi join {{ new_lifecycle_deliveries(this) }} as new_deliveries
        on new_deliveries.source_id = lake.source_id and new_deliveries.file_name = lake.file_name
),

{{ replayed_histories() }}
{% else %}
{{ replay_input() }}
{% endif %}
{% endmacro %}

{#- number_first_events: incremental on DuckDB like the other history models; on Spark a table
    rebuilt at each run (the first row of each number's history). Its second DuckDB post-hook
    rewrites the coverage start of rows of any number whenever a source's coverage moves, which
    on Spark would touch blocks no replay touched. -#}
{% macro first_events_config(post_hook=none, pre_hook=none) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('first_events_config', 'numlake')(post_hook, pre_hook)) }}
    {%- else -%}
        {{ return(default__history_incremental_config(post_hook, none, pre_hook)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__first_events_config(post_hook=none, pre_hook=none) -%}
    {{ return(default__history_incremental_config(post_hook, none, pre_hook)) }}
{%- endmacro %}

{% macro spark__first_events_config(post_hook=none, pre_hook=none) -%}
    {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
{%- endmacro %}

{#- Incremental on DuckDB (`delete+insert` by `unique_key`, or `append` after a pre-hook that
    drops the rows to replace), a whole table on Spark: for the small tables that grow with the
    history (`file_loads`, `int_complaints__deduplicated`), whose whole rebuild costs DuckDB a
    write of every row each day but costs Spark little, and whose rows Spark's Parquet tables
    could not delete. On Spark the hooks are kept inside a comment, for dbt to see their refs. -#}
{% macro row_incremental_config(unique_key=none, pre_hook=none, post_hook=none) -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('row_incremental_config', 'numlake')(unique_key, pre_hook, post_hook)) }}
    {%- else -%}
        {{ return(default__row_incremental_config(unique_key, pre_hook, post_hook)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__row_incremental_config(unique_key=none, pre_hook=none, post_hook=none) -%}
    {%- set config = {'materialized': 'incremental', 'on_schema_change': 'fail'} -%}
    {%- if unique_key is not none -%}
        {%- do config.update({'incremental_strategy': 'delete+insert', 'unique_key': unique_key}) -%}
    {%- else -%}
        {%- do config.update({'incremental_strategy': 'append'}) -%}
    {%- endif -%}
    {{ return(with_hooks(config, pre_hook, post_hook)) }}
{%- endmacro %}

{% macro spark__row_incremental_config(unique_key=none, pre_hook=none, post_hook=none) -%}
    {%- set hooks = [] -%}
    {%- for hook in ([pre_hook] if pre_hook is string else pre_hook or [])
                    + ([post_hook] if post_hook is string else post_hook or []) -%}
        {%- do hooks.append('select 1 /* on DuckDB: ' ~ hook ~ ' */') -%}
    {%- endfor -%}
    {{ return({'materialized': 'table', 'post_hook': hooks}) }}
{%- endmacro %}

{#- `not exists` a row of `other` equal to `alias`'s in every column of `table` (nulls equal). -#}
{% macro row_not_in(alias, table, other=none) -%}
    {%- set columns = adapter.get_columns_in_relation(table) if execute and adapter is defined else [] -%}
    not exists (
        select 1 from {{ other if other is not none else table }} as same
        {%- for c in columns %}
        {{ 'where' if loop.first else 'and' }} same.{{ c.quoted }} is not distinct from {{ alias }}.{{ c.quoted }}
        {%- endfor %}
    )
{%- endmacro %}

{#- A pre-hook of a row-incremental table (`row_incremental_config`): drop the rows no longer
    among `current`'s, compared on every column of the table; the model then appends the rows of
    `current` it does not hold. A first build or a full refresh has nothing to drop. -#}
{% macro drop_rows_not_current(current) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as kept
        where {{ row_not_in('kept', this, current) }}
    {%- else -%}
        select 1 /* first build: nothing to drop */
    {%- endif -%}
{%- endmacro %}
