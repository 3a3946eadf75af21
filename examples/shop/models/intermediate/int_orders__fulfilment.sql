-- One row per shipped order. Multi-parcel orders count as delivered when the last parcel is.
with shipments as (

    select * from {{ ref('stg_logistics__shipments') }}

)

select
    order_id,
    count(*)                                        as parcel_count,
    min(shipped_at)                                 as first_shipped_at,
    case when bool_and(is_delivered) then max(delivered_at) end
                                                    as delivered_at,
    sum(shipping_cost_usd)                          as shipping_cost_usd,
    arg_min(carrier_name, shipped_at)               as first_carrier_name,
    max(case when service_level = 'express' or service_level = 'same_day' then 1 else 0 end) = 1
                                                    as has_fast_shipping
from shipments
group by 1
