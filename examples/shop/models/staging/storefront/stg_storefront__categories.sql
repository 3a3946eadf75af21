with source as (

    select * from {{ source('storefront', 'categories') }}

)

select
    id          as category_id,
    name        as category_name,
    parent_id   as parent_category_id
from source
