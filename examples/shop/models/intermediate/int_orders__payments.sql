-- One row per order: what was captured and what was given back, in US dollars.
with charges as (

    select * from {{ ref('stg_billing__charges') }}

),

refunds as (

    select * from {{ ref('stg_billing__refunds') }}

),

orders as (

    select order_id, currency_code from {{ ref('stg_storefront__orders') }}

),

fx as (

    select * from {{ ref('fx_rates') }}

),

refunds_per_charge as (

    select charge_id, sum(amount_local) as refunded_local
    from refunds
    group by 1

),

per_order as (

    select
        charges.order_id,
        count(*)                                                        as charge_attempts,
        sum(case when charges.charge_status = 'captured' then charges.amount_local else 0 end)
                                                                        as captured_local,
        sum(coalesce(refunds_per_charge.refunded_local, 0))             as refunded_local,
        -- the method that moved the most money wins
        arg_max(charges.payment_method, charges.amount_local)           as primary_payment_method
    from charges
    left join refunds_per_charge
        on charges.charge_id = refunds_per_charge.charge_id
    group by 1

)

select
    per_order.order_id,
    per_order.charge_attempts,
    per_order.primary_payment_method,
    {{ to_usd('per_order.captured_local') }}    as amount_paid_usd,
    {{ to_usd('per_order.refunded_local') }}    as amount_refunded_usd
from per_order
inner join orders
    on per_order.order_id = orders.order_id
left join fx
    on orders.currency_code = fx.currency_code
