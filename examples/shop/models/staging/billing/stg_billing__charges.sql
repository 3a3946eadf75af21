with source as (

    select * from {{ source('billing', 'charges') }}

),

cleaned as (

    select
        charge_ref                                  as charge_id,
        order_id,
        lower(method)                               as payment_method,
        case lower(state)
            when 'succeeded' then 'captured'
            when 'captured' then 'captured'
            when 'pending' then 'pending'
            else 'failed'
        end                                         as charge_status,
        {{ cents_to_amount('amount_cents') }}       as amount_local,
        created_at                                  as charged_at
    from source

)

select * from cleaned
