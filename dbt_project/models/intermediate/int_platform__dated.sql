{#- RULES: `as_of` is the latest business date among all loaded deliveries, of any feed. -#}
with file_loads as (
    select * from {{ ref('stg_lake__file_loads') }}
),

final as (
    select max(business_date) as as_of
    from file_loads
    where outcome = 'LOADED'
)

select * from final
