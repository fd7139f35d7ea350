{#- RULES 1: one history per number, ordered by event time; at equal times PORT_OUT before
    everything else before PORT_IN (`port_rank` 0, 1, 2), then by source id, then event id.
    Every window of the replay uses this order, so each level of it costs one sort. -#}
{% macro port_rank(event_type) -%}
    case {{ event_type }} when 'PORT_OUT' then 0 when 'PORT_IN' then 2 else 1 end
{%- endmacro %}

{% macro history_order() -%}
    partition by msisdn order by event_time, port_rank, source_id, event_id
{%- endmacro %}

{#- The named windows of a replay level: `upto` (this event and all before it) and, unless
    `before=false`, `before` (all events before this one). -#}
{% macro history_windows(before=true) -%}
    window
        upto as ({{ history_order() }} rows between unbounded preceding and current row)
        {%- if before %},
        before as ({{ history_order() }} rows between unbounded preceding and 1 preceding)
        {%- endif %}
{%- endmacro %}

{#- RULES 1: ACTIVATE and PORT_IN always leave a tenure open, CANCEL and RECYCLE always close it;
    other events (null) leave it as it was. -#}
{% macro opens_or_closes_tenure(event_type) -%}
    case
        when {{ event_type }} in ('ACTIVATE', 'PORT_IN') then true
        when {{ event_type }} in ('CANCEL', 'RECYCLE') then false
    end
{%- endmacro %}
