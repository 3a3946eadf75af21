with source as (

    select * from {{ source('storefront', 'orders') }}
    where _deleted_at is null

),

cleaned as (

    select
        id                                  as order_id,
        account_id,
        lower(status)                       as order_status,
        nullif(upper(trim(promo_code)), '') as promotion_code,
        upper(currency)                     as currency_code,
        coalesce(channel, 'web')            as sales_channel,
        placed_at                           as ordered_at,
        cast(placed_at as date)             as order_date,
        updated_at
    from source

)

select * from cleaned
