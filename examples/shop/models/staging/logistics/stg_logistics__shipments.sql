with source as (

    select * from {{ source('logistics', 'shipments') }}

),

cleaned as (

    select
        shipment_id,
        order_id,
        lower(carrier)                          as carrier_name,
        lower(service)                          as service_level,
        {{ cents_to_amount('cost_cents') }}     as shipping_cost_usd,
        shipped_at,
        delivered_at,
        delivered_at is not null                as is_delivered
    from source

)

select * from cleaned
