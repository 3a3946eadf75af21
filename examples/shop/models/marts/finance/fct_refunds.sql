with refunds as (

    select * from {{ ref('stg_billing__refunds') }}

),

charges as (

    select charge_id, order_id, payment_method from {{ ref('stg_billing__charges') }}

),

orders as (

    select order_id, account_id, order_date, currency_code, sales_channel
    from {{ ref('fct_orders') }}

),

fx as (

    select * from {{ ref('fx_rates') }}

)

select
    refunds.refund_id,
    charges.order_id,
    orders.account_id,
    orders.sales_channel,
    charges.payment_method,
    refunds.refund_reason,
    refunds.refunded_at,
    date_diff('day', orders.order_date, refunds.refunded_at)   as days_after_order,
    {{ to_usd('refunds.amount_local') }}                       as refund_amount_usd
from refunds
inner join charges
    on refunds.charge_id = charges.charge_id
left join orders
    on charges.order_id = orders.order_id
left join fx
    on orders.currency_code = fx.currency_code
