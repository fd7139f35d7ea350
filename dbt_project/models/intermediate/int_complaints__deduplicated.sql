{#- INTERCHANGE 3.2: a complaint (source, complaint_id) is reported again whenever it changes;
    its current state is the latest report: business date, then sequence, then line. -#}
with complaints as (
    select * from {{ ref('stg_lake__complaints') }}
),

final as (
    select *
    from complaints
    qualify row_number() over (
        partition by source_id, complaint_id
        order by business_date desc, seq desc, load_order desc, line_no desc
    ) = 1
)

select * from final
