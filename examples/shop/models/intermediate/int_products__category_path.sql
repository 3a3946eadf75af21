-- Flattens the two-level category tree so marts can group by department.
with products as (

    select * from {{ ref('stg_storefront__products') }}

),

categories as (

    select * from {{ ref('stg_storefront__categories') }}

),

with_department as (

    select
        products.product_id,
        products.sku,
        products.product_name,
        products.list_price_usd,
        products.unit_cost_usd,
        products.is_active,
        leaf.category_name,
        coalesce(parent.category_name, leaf.category_name) as department_name
    from products
    left join categories as leaf
        on products.category_id = leaf.category_id
    left join categories as parent
        on leaf.parent_category_id = parent.category_id

)

select * from with_department
