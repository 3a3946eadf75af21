{#- Convert a local-currency amount with the fx_rates seed, joined as `fx`. -#}
{% macro to_usd(amount_expr, fx_alias='fx') -%}
    round({{ amount_expr }} * coalesce({{ fx_alias }}.rate_to_usd, 1), 2)
{%- endmacro %}
