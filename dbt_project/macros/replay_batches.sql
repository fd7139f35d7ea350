{#- Models built from the replayed histories are incremental like the replay itself: every row
    carries the `replay_batch` of its number's latest replay. A build reads only the numbers
    replayed since this table was last built, and its pre-hook first drops every row of the
    numbers replayed again or withdrawn altogether since then (so a number replayed again
    without rows in this table, e.g. without a tenure any more, keeps none). Both are bounded by
    the batch: a daily build reads and deletes what the day touched, not the whole table. -#}
{% macro replayed_since_last_build() -%}
    {%- if adapter is defined -%}
        {{ return(adapter.dispatch('replayed_since_last_build', 'numlake')()) }}
    {%- else -%}
        {{ return(default__replayed_since_last_build()) }}
    {%- endif -%}
{%- endmacro %}

{#- On DuckDB a constant, read when the model is compiled, i.e. before its pre-hook deletes: the
    model's select and the pre-hook's delete then name the same numbers whatever the delete
    leaves (which is what lets the insert be a plain append, macros/engine/incremental.sql), and
    the scan of the replay skips the row groups of earlier batches by their min/max. -#}
{% macro default__replayed_since_last_build() -%}
    replay_batch > {{ last_built_batch() }}
{%- endmacro %}

{% macro spark__replayed_since_last_build() -%}
    replay_batch > (select coalesce(max(replay_batch), 0) from {{ this }})
{%- endmacro %}

{% macro last_built_batch() -%}
    {{ return((query_rows('select coalesce(max(replay_batch), 0) from ' ~ this) or [[0]])[0][0]) }}
{%- endmacro %}

{#- DuckDB only (on Spark `history_select` keeps the rows instead). By `msisdn_key`: the delete
    reads that column of every row of the table, and a BIGINT is read and matched ~6 times
    faster than the 11-character msisdn (0.016 s against 0.09 s at 5 M rows, BENCHMARKS.md). -#}
{% macro drop_rows_of_numbers_replayed_again() -%}
    {%- if is_incremental() -%}
        {%- set since = last_built_batch() -%}
        delete from {{ this }}
        where msisdn_key in (
            select msisdn_key from {{ ref('int_number_events__replayed') }} where replay_batch > {{ since }}
            union all
            select {{ msisdn_key('msisdn') }} from {{ withdrawn_numbers() }} where replay_batch > {{ since }}
        )
    {%- else -%}
        select 1 /* first build: nothing to drop */
    {%- endif -%}
{%- endmacro %}

{#- The numbers the replay dropped because their records were withdrawn, with the batch after the
    replay's last (macros/replay_changes.sql, drop_withdrawn_lifecycle_rows): a number whose every
    record was withdrawn leaves no row in the replay to find it by. A table of the replay's hooks,
    not a model: emptied by a full refresh. -#}
{% macro withdrawn_numbers(replayed=none) -%}
    {%- set replayed = replayed if replayed is not none else ref('int_number_events__replayed') -%}
    {{ return(replayed.incorporate(path={'identifier': replayed.identifier ~ '__withdrawn'})) }}
{%- endmacro %}

{#- `replayed`: the replay's own hooks pass `this` (a model cannot ref itself). -#}
{% macro create_withdrawn_numbers(replayed=none) -%}
    create table if not exists {{ withdrawn_numbers(replayed) }} (msisdn varchar, replay_batch bigint)
{%- endmacro %}

{#- The number as a BIGINT, the key the history tables are deleted and looked up by (every
    history table carries it as `msisdn_key`, beside `msisdn`): a valid number is 11 digits
    starting with 1 (INTERCHANGE 2), so the cast is exact and one-to-one. -#}
{% macro msisdn_key(column) -%}
    cast({{ column }} as bigint)
{%- endmacro %}
