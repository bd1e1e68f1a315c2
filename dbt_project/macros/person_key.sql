{#- A salted SHA-256 of a resident ID: marts carry this key, never the ID. The salt
    comes from the environment (HM_ID_SALT), never from the repository. -#}
{% macro person_key(column) -%}
    encode(sha256(convert_to('{{ env_var("HM_ID_SALT") }}' || {{ column }}, 'UTF8')), 'hex')
{%- endmacro %}
