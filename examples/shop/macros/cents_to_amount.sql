{#- The storefront and billing systems store money as integer cents. -#}
{% macro cents_to_amount(column_name, scale=2) -%}
    cast({{ column_name }} as decimal(18, {{ scale }})) / 100
{%- endmacro %}
