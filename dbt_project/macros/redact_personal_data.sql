{#- Free text that departments and officials type (a home visit's note, an employer's name)
    can hold what the marts must not: a resident ID, or the name of a registered person
    (README, Personal data). Staging redacts it, so nothing downstream of staging carries it. -#}

{#- Every 18-digit resident ID (GB 11643: 17 digits and a check digit or X) that stands
    alone in the text becomes [身份证号已隐去]; longer digit runs (an account number) are kept. -#}
{% macro redact_resident_ids(column) -%}
    regexp_replace(
        {{ column }},
        '(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])',
        '[身份证号已隐去]',
        'g'
    )
{%- endmacro %}

{#- The names of the registered members of each household in `households` (a relation or CTE
    with a household_id column), as one regular expression a household: household_id,
    names_pattern (name1|name2|..., every character that is not a letter or digit escaped). -#}
{% macro household_member_names_patterns(households) -%}
    select
        household_id,
        string_agg(
            regexp_replace(person_name, '([^[:alnum:]])', '\\\1', 'g'),
            '|'
            order by length(person_name) desc, person_name
        ) as names_pattern
    from {{ ref('stg_household_register__members') }}
    where
        household_id in (select household_id from {{ households }})
        and length(person_name) >= 2
    group by household_id
{%- endmacro %}

{#- A note with resident IDs and the names in `names_pattern` (a household's members) redacted. -#}
{% macro redact_household_note(column, names_pattern) -%}
    coalesce(
        regexp_replace({{ redact_resident_ids(column) }}, {{ names_pattern }}, '[姓名已隐去]', 'g'),
        {{ redact_resident_ids(column) }}
    )
{%- endmacro %}
