{{ config(tags=['daily']) }}

-- Retention by signup-to-first-order cohort month.
with accounts as (

    select account_id, first_ordered_at from {{ ref('dim_accounts') }}
    where first_ordered_at is not null

),

orders as (

    select account_id, order_date, net_revenue_usd
    from {{ ref('fct_orders') }}
    where order_status != 'cancelled'

),

activity as (

    select
        date_trunc('month', accounts.first_ordered_at)                          as cohort_month,
        date_diff('month', date_trunc('month', accounts.first_ordered_at),
                  date_trunc('month', orders.order_date))                       as months_since_first_order,
        orders.account_id,
        orders.net_revenue_usd
    from orders
    inner join accounts
        on orders.account_id = accounts.account_id

)

select
    cohort_month,
    months_since_first_order,
    count(distinct account_id)  as active_accounts,
    sum(net_revenue_usd)        as net_revenue_usd
from activity
group by 1, 2
