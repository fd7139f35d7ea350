-- Catches tenures lost between the replay and the published table: each number replayed in the
-- latest batch has one number_tenures row per event that starts a tenure, and an open tenure
-- exactly when its last event leaves one open; and over all numbers the tenures equal the
-- tenure starts (which also catches the tenures of a number whose every record was withdrawn,
-- and a tenure left behind from an earlier replay of a number replayed again).
-- The per-number check is bounded by the batch, like the models (macros/replay_batches.sql): a
-- daily run checks the numbers it replayed, a full build all of them. A number replayed in the
-- latest batch has its whole history and all its tenures in that batch, so both sides are read
-- by batch (the batches are stored in order: a daily run reads a day's rows, not the history).
-- Numbers of earlier batches were checked when they were replayed and their rows have not
-- changed since.
{{ config(meta={'dagster': {'ref': {'name': 'number_tenures'}}}) }}
with latest as (
    select max(replay_batch) as replay_batch from {{ ref('int_number_events__replayed') }}
),

history as (
    select
        msisdn,
        count(case when is_tenure_start then 1 end) as starts,
        {{ value_at_max('is_open_after', 'event_seq') }} as open_at_end
    from {{ ref('int_number_events__replayed') }}
    where replay_batch = (select latest.replay_batch from latest)
    group by msisdn
),

published as (
    select
        msisdn,
        count(*) as tenures,
        count(case when end_time is null then 1 end) as open_now
    from {{ ref('number_tenures') }}
    where replay_batch = (select latest.replay_batch from latest)
    group by msisdn
),

per_number as (
    select
        coalesce(history.msisdn, published.msisdn) as msisdn,
        coalesce(history.starts, 0) as starts,
        coalesce(published.tenures, 0) as tenures,
        coalesce(published.open_now, 0) as open_now,
        case when history.open_at_end then 1 else 0 end as open_at_end
    from history
    full outer join published on published.msisdn = history.msisdn
),

all_numbers as (
    select
        cast(null as string) as msisdn,
        (
            select count(*) from {{ ref('int_number_events__replayed') }}
            where is_tenure_start
        ) as starts,
        (select count(*) from {{ ref('number_tenures') }}) as tenures,
        cast(null as bigint) as open_now,
        cast(null as integer) as open_at_end
)

select
    msisdn,
    starts,
    tenures,
    open_now,
    open_at_end
from per_number
where starts <> tenures or open_now <> open_at_end
union all
select
    msisdn,
    starts,
    tenures,
    open_now,
    open_at_end
from all_numbers
where starts <> tenures
