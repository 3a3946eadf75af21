-- Month-end view used by the finance close. Only completed orders count.
with orders as (

    select * from {{ ref('fct_orders') }}
    where order_status in ('completed', 'returned')

),

monthly as (

    select
        date_trunc('month', order_date)                 as revenue_month,
        sales_channel,
        sum(net_revenue_usd)                            as net_revenue_usd,
        sum(cost_of_goods_usd)                          as cost_of_goods_usd,
        sum(shipping_cost_usd)                          as shipping_cost_usd,
        sum(amount_refunded_usd)                        as refunds_usd
    from orders
    group by 1, 2

)

select
    *,
    net_revenue_usd - cost_of_goods_usd - shipping_cost_usd - refunds_usd  as contribution_margin_usd,
    (net_revenue_usd - cost_of_goods_usd - shipping_cost_usd - refunds_usd)
        / nullif(net_revenue_usd, 0)                                        as contribution_margin_rate
from monthly
