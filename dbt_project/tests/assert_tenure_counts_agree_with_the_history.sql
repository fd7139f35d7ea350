-- Catches tenures lost between the replay and the published table: every event that starts a
-- tenure has exactly one number_tenures row, and the number of open tenures equals the number
-- of numbers whose last event leaves one open.
{{ config(meta={'dagster': {'ref': {'name': 'number_tenures'}}}) }}
with starts as (
    select count(*) as n from {{ ref('int_number_events__replayed') }}
    where is_tenure_start
),

published as (
    select
        count(*) as n,
        count(*) filter (where end_time is null) as open_now
    from {{ ref('number_tenures') }}
),

last_events as (
    select
        msisdn,
        is_open_after
    from {{ ref('int_number_events__replayed') }}
    qualify row_number() over (partition by msisdn order by event_seq desc) = 1
),

open_at_end as (
    select count(*) as n from last_events
    where is_open_after
)

select
    starts.n as starts,
    published.n as tenures,
    published.open_now,
    open_at_end.n as open_at_end
from starts, published, open_at_end
where starts.n <> published.n or published.open_now <> open_at_end.n
