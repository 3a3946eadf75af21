{{ config(materialized='view') }}

select
    date_trunc('week', order_date)                                      as order_week,
    first_carrier_name                                                  as carrier_name,
    count(*)                                                            as shipped_orders,
    count(delivered_at)                                                 as delivered_orders,
    avg(days_to_deliver)                                                as avg_days_to_deliver,
    quantile_cont(days_to_deliver, 0.9)                                 as p90_days_to_deliver,
    sum(shipping_cost_usd) / nullif(count(*), 0)                        as shipping_cost_per_order_usd,
    avg(case when has_return then 1.0 else 0.0 end)                     as return_rate
from {{ ref('fct_orders') }}
where first_shipped_at is not null
group by 1, 2
