{{ config(materialized='view') }}

-- Line-level money in US dollars. This is the finest grain that revenue exists at;
-- fct_orders rolls it up to one row per order.
with lines as (

    select * from {{ ref('stg_storefront__order_lines') }}

),

orders as (

    select order_id, currency_code, promotion_code, ordered_at
    from {{ ref('stg_storefront__orders') }}

),

products as (

    select * from {{ ref('int_products__category_path') }}

),

promotions as (

    select * from {{ ref('stg_storefront__promotions') }}

),

fx as (

    select * from {{ ref('fx_rates') }}

),

priced as (

    select
        lines.order_line_id,
        lines.order_id,
        lines.product_id,
        products.department_name,
        products.category_name,
        lines.quantity,
        {{ to_usd('lines.unit_price_local * lines.quantity') }}     as gross_amount_usd,
        {{ to_usd('lines.discount_local') }}
            + round(
                {{ to_usd('lines.unit_price_local * lines.quantity') }}
                * coalesce(promotions.discount_rate, 0),
                2
            )                                                       as discount_amount_usd,
        products.unit_cost_usd * lines.quantity                     as cost_amount_usd
    from lines
    inner join orders
        on lines.order_id = orders.order_id
    left join products
        on lines.product_id = products.product_id
    left join promotions
        on orders.promotion_code = promotions.promotion_code
        and orders.ordered_at between promotions.valid_from and promotions.valid_to
    left join fx
        on orders.currency_code = fx.currency_code

)

select
    *,
    gross_amount_usd - discount_amount_usd                      as net_amount_usd,
    gross_amount_usd - discount_amount_usd - cost_amount_usd    as margin_amount_usd
from priced
