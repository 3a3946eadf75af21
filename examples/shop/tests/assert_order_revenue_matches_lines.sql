-- fct_orders sums int_order_lines__priced. If the two disagree by more than a cent
-- for a non-cancelled order, the roll-up lost or duplicated lines.
-- Returns the offending orders; zero rows means the test passes.
{{ config(tags=['finance']) }}

with line_totals as (

    select order_id, sum(net_amount_usd) as line_net_revenue_usd
    from {{ ref('int_order_lines__priced') }}
    group by 1

)

select
    orders.order_id,
    orders.net_revenue_usd,
    line_totals.line_net_revenue_usd
from {{ ref('fct_orders') }} as orders
left join line_totals
    on orders.order_id = line_totals.order_id
where orders.order_status != 'cancelled'
  and abs(orders.net_revenue_usd - coalesce(line_totals.line_net_revenue_usd, 0)) > 0.01
