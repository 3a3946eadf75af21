{{
    config(
        materialized='incremental',
        unique_key='order_id',
        on_schema_change='append_new_columns',
        tags=['daily']
    )
}}

-- One row per order. Line-level detail (products, departments) is summed away here;
-- questions "per product" or "per department" must go back to int_order_lines__priced.
with orders as (

    select * from {{ ref('stg_storefront__orders') }}
    {% if is_incremental() %}
    where updated_at > (select coalesce(max(updated_at), '1900-01-01') from {{ this }})
    {% endif %}

),

lines as (

    select * from {{ ref('int_order_lines__priced') }}

),

returns as (

    select * from {{ ref('int_order_lines__returns') }}

),

payments as (

    select * from {{ ref('int_orders__payments') }}

),

fulfilment as (

    select * from {{ ref('int_orders__fulfilment') }}

),

line_totals as (

    select
        lines.order_id,
        count(*)                                    as line_count,
        sum(lines.quantity)                         as item_quantity,
        sum(lines.gross_amount_usd)                 as gross_revenue_usd,
        sum(lines.discount_amount_usd)              as discount_usd,
        sum(lines.net_amount_usd)                   as net_revenue_usd,
        sum(lines.cost_amount_usd)                  as cost_of_goods_usd,
        sum(lines.margin_amount_usd)                as gross_margin_usd,
        sum(coalesce(returns.returned_quantity, 0)) as returned_quantity
    from lines
    left join returns
        on lines.order_line_id = returns.order_line_id
    group by 1

),

final as (

    select
        orders.order_id,
        orders.account_id,
        orders.ordered_at,
        orders.order_date,
        orders.order_status,
        orders.sales_channel,
        orders.currency_code,
        orders.promotion_code,
        coalesce(line_totals.line_count, 0)             as line_count,
        coalesce(line_totals.item_quantity, 0)          as item_quantity,
        case when orders.order_status = 'cancelled' then 0
             else coalesce(line_totals.gross_revenue_usd, 0) end as gross_revenue_usd,
        case when orders.order_status = 'cancelled' then 0
             else coalesce(line_totals.discount_usd, 0) end      as discount_usd,
        case when orders.order_status = 'cancelled' then 0
             else coalesce(line_totals.net_revenue_usd, 0) end   as net_revenue_usd,
        coalesce(line_totals.cost_of_goods_usd, 0)      as cost_of_goods_usd,
        coalesce(line_totals.gross_margin_usd, 0)       as gross_margin_usd,
        coalesce(payments.amount_paid_usd, 0)           as amount_paid_usd,
        coalesce(payments.amount_refunded_usd, 0)       as amount_refunded_usd,
        payments.primary_payment_method,
        coalesce(payments.amount_paid_usd, 0)
            >= coalesce(line_totals.net_revenue_usd, 0) as is_fully_paid,
        fulfilment.first_shipped_at,
        fulfilment.delivered_at,
        date_diff('day', orders.ordered_at, fulfilment.delivered_at)
                                                        as days_to_deliver,
        coalesce(fulfilment.shipping_cost_usd, 0)       as shipping_cost_usd,
        fulfilment.first_carrier_name,
        coalesce(line_totals.returned_quantity, 0) > 0  as has_return,
        orders.updated_at
    from orders
    left join line_totals
        on orders.order_id = line_totals.order_id
    left join payments
        on orders.order_id = payments.order_id
    left join fulfilment
        on orders.order_id = fulfilment.order_id

)

select * from final
