{#- Coverage of every source and feed from the ledger: a delivery counts when its current
    outcome is LOADED (even with zero records); a quarantined or pending day is a gap. -#}
with file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

loaded as (
    select distinct
        source_id,
        feed,
        business_date
    from file_loads
    where outcome = 'LOADED' and business_date is not null
),

final as (
    select
        source_id,
        feed,
        min(business_date) as coverage_start,
        max(business_date) as latest_business_date,
        count(*) as loaded_business_dates
    from loaded
    group by source_id, feed
)

select * from final
