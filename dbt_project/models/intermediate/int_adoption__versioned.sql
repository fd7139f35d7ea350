{#- RULES 4 / INTERCHANGE 3.5: an organisation supports a segment at t when its latest report
    at or before t says SUPPORTED. Reports of unregistered organisations or unknown segments
    are ignored; at equal checked_time the later report wins: the most recent report in the
    spec's sense (INTERCHANGE 3.2: latest business date, then highest sequence, then last line). One row
    per (org, segment, checked_time): the status from valid_from until valid_to (exclusive). -#}
with adoption as (
    select * from {{ ref('stg_lake__adoption') }}
),

orgs as (
    select * from {{ ref('int_orgs__deduplicated') }}
),

segments as (
    select * from {{ ref('int_segments__deduplicated') }}
),

known as (
    select
        adoption.org_id,
        orgs.org_type,
        adoption.segment,
        adoption.status,
        adoption.checked_time,
        adoption.business_date,
        adoption.seq,
        adoption.line_no
    from adoption
    inner join orgs on orgs.org_id = adoption.org_id
    inner join segments on segments.segment = adoption.segment
),

winners as (
    select *
    from known
    qualify row_number() over (
        partition by org_id, segment, checked_time order by business_date desc, seq desc, line_no desc
    ) = 1
),

final as (
    select
        org_id,
        org_type,
        segment,
        status,
        checked_time as valid_from,
        lead(checked_time) over (partition by org_id, segment order by checked_time) as valid_to
    from winners
)

select * from final
