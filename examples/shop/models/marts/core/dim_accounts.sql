{{ config(tags=['pii']) }}

with accounts as (

    select * from {{ ref('stg_storefront__accounts') }}
    where not is_internal_account

),

order_history as (

    select
        account_id,
        min(ordered_at)                                          as first_ordered_at,
        max(ordered_at)                                          as last_ordered_at,
        count(*) filter (where order_status != 'cancelled')      as lifetime_orders,
        sum(net_revenue_usd)                                     as lifetime_net_revenue_usd
    from {{ ref('fct_orders') }}
    group by 1

)

select
    accounts.account_id,
    accounts.email,
    accounts.full_name,
    accounts.country_code,
    accounts.signup_channel,
    accounts.signed_up_at,
    order_history.first_ordered_at,
    order_history.last_ordered_at,
    coalesce(order_history.lifetime_orders, 0)              as lifetime_orders,
    coalesce(order_history.lifetime_net_revenue_usd, 0)     as lifetime_net_revenue_usd,
    case
        when order_history.lifetime_orders is null then 'prospect'
        when order_history.lifetime_orders = 1 then 'new'
        else 'returning'
    end                                                     as customer_segment
from accounts
left join order_history
    on accounts.account_id = order_history.account_id
