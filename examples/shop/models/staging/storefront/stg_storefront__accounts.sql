with source as (

    select * from {{ source('storefront', 'accounts') }}
    where _deleted_at is null

),

cleaned as (

    select
        id                                  as account_id,
        lower(trim(email))                  as email,
        display_name                        as full_name,
        upper(country)                      as country_code,
        coalesce(signup_source, 'web')      as signup_channel,
        coalesce(is_internal, false)        as is_internal_account,
        created_at                          as signed_up_at
    from source

)

select * from cleaned
