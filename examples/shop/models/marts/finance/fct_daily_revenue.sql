{{
    config(
        materialized='incremental',
        unique_key=['order_date', 'sales_channel'],
        tags=['daily']
    )
}}

-- Reprocess the last three days on every run: late payments and cancellations land late.
with orders as (

    select * from {{ ref('fct_orders') }}
    {% if is_incremental() %}
    where order_date >= (select max(order_date) - interval 3 day from {{ this }})
    {% endif %}

)

select
    order_date,
    sales_channel,
    count(*) filter (where order_status != 'cancelled')     as orders_count,
    sum(gross_revenue_usd)                                  as gross_revenue_usd,
    sum(discount_usd)                                       as discount_usd,
    sum(net_revenue_usd)                                    as net_revenue_usd,
    sum(gross_margin_usd)                                   as gross_margin_usd,
    sum(amount_refunded_usd)                                as refunds_usd,
    sum(shipping_cost_usd)                                  as shipping_cost_usd
from orders
group by 1, 2
