{#- The registered organisations: the latest report of each org_id in the portal's orgs feed. -#}
with orgs as (
    select * from {{ ref('stg_lake__orgs') }}
),

final as (
    select *
    from orgs
    qualify row_number() over (
        partition by org_id
        order by business_date desc, seq desc, load_order desc, line_no desc
    ) = 1
)

select * from final
