with source as (

    select * from {{ source('storefront', 'products') }}

),

cleaned as (

    select
        id                                          as product_id,
        category_id,
        upper(sku)                                  as sku,
        title                                       as product_name,
        {{ cents_to_amount('list_price_cents') }}   as list_price_usd,
        {{ cents_to_amount('unit_cost_cents') }}    as unit_cost_usd,
        coalesce(active, true)                      as is_active,
        launched_at
    from source

)

select * from cleaned
