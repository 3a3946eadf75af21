select
    product_id,
    sku,
    product_name,
    category_name,
    department_name,
    list_price_usd,
    unit_cost_usd,
    list_price_usd - unit_cost_usd                                  as list_margin_usd,
    is_active
from {{ ref('int_products__category_path') }}
