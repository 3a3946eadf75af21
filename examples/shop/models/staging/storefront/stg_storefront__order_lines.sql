with source as (

    select * from {{ source('storefront', 'order_lines') }}
    where _deleted_at is null

),

cleaned as (

    select
        id                                          as order_line_id,
        order_id,
        product_id,
        qty                                         as quantity,
        {{ cents_to_amount('unit_price_cents') }}   as unit_price_local,
        {{ cents_to_amount('discount_cents') }}     as discount_local
    from source
    where qty > 0

)

select * from cleaned
