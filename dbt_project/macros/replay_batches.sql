{#- Models built from the replayed histories are incremental like the replay itself: every row
    carries the `replay_batch` of its number's latest replay. A build reads only the numbers
    replayed since this table was last built, and its post-hook drops the rows of numbers that
    were replayed again without them, or withdrawn altogether. -#}
{% macro replayed_since_last_build() -%}
    replay_batch > (select coalesce(max(replay_batch), 0) from {{ this }})
{%- endmacro %}

{% macro drop_rows_of_replaced_histories(upstream) -%}
    delete from {{ this }} as t
    where not exists (
        select 1 from {{ upstream }} as u where u.msisdn = t.msisdn and u.replay_batch = t.replay_batch
    )
{%- endmacro %}
