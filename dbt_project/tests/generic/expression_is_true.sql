{#- Rows for which an expression is false (the model's or column's invariant).
    Like dbt_utils.expression_is_true; dbt packages cannot be fetched here. -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select * from {{ model }} where not ({{ expression }})
{% endtest %}
