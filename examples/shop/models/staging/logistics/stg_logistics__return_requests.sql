with source as (

    select * from {{ source('logistics', 'return_requests') }}

)

select
    return_id,
    order_line_id,
    qty                 as returned_quantity,
    lower(reason_code)  as return_reason,
    lower(status)       as return_status,
    requested_at,
    received_at
from source
