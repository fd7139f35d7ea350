{#- INTERCHANGE 3.3: the latest report of a segment wins (business date, sequence, then the
    later load and line when two sources report it on the same day). -#}
with segments as (
    select * from {{ ref('stg_lake__segments') }}
),

final as (
    select *
    from segments
    qualify row_number() over (
        partition by segment
        order by business_date desc, seq desc, load_order desc, line_no desc
    ) = 1
)

select * from final
