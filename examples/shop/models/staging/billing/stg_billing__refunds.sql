with source as (

    select * from {{ source('billing', 'refunds') }}

)

select
    refund_ref                              as refund_id,
    charge_ref                              as charge_id,
    coalesce(lower(reason), 'unspecified')  as refund_reason,
    {{ cents_to_amount('amount_cents') }}   as amount_local,
    created_at                              as refunded_at
from source
