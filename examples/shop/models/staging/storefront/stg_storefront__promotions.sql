with source as (

    select * from {{ source('storefront', 'promotions') }}

)

select
    upper(trim(code))               as promotion_code,
    label                           as promotion_name,
    percent_off / 100.0             as discount_rate,
    coalesce(campaign, 'untracked') as campaign_name,
    valid_from,
    valid_to
from source
