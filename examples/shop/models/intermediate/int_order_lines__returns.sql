-- Returned units per order line; rejected returns do not count.
with returns as (

    select * from {{ ref('stg_logistics__return_requests') }}
    where return_status != 'rejected'

),

lines as (

    select order_line_id, order_id, quantity from {{ ref('stg_storefront__order_lines') }}

)

select
    lines.order_line_id,
    lines.order_id,
    least(sum(returns.returned_quantity), max(lines.quantity))   as returned_quantity,
    min(returns.requested_at)                                    as first_return_requested_at,
    arg_min(returns.return_reason, returns.requested_at)         as first_return_reason
from returns
inner join lines
    on returns.order_line_id = lines.order_line_id
group by 1, 2
