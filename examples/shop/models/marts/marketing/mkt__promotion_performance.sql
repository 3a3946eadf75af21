with promotions as (

    select * from {{ ref('stg_storefront__promotions') }}

),

promo_orders as (

    select
        promotion_code,
        count(*)                    as orders_count,
        count(distinct account_id)  as shoppers_count,
        sum(discount_usd)           as discount_usd,
        sum(net_revenue_usd)        as net_revenue_usd
    from {{ ref('fct_orders') }}
    where promotion_code is not null
      and order_status != 'cancelled'
    group by 1

)

select
    promotions.promotion_code,
    promotions.promotion_name,
    promotions.campaign_name,
    promotions.valid_from,
    promotions.valid_to,
    coalesce(promo_orders.orders_count, 0)      as orders_count,
    coalesce(promo_orders.shoppers_count, 0)    as shoppers_count,
    coalesce(promo_orders.discount_usd, 0)      as discount_usd,
    coalesce(promo_orders.net_revenue_usd, 0)   as net_revenue_usd,
    promo_orders.net_revenue_usd / nullif(promo_orders.discount_usd, 0)
                                                as revenue_per_discount_dollar
from promotions
left join promo_orders
    on promotions.promotion_code = promo_orders.promotion_code
