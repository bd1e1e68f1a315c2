{#- The area of a row of a county / township / village roll-up (grouping sets over
    county_code, township_code, village_code): its level, its code and its parent's
    code (null for the county). Shared by the area marts so they roll up alike. -#}
{% macro area_columns() -%}
    case
        when village_code is not null then 'village'
        when township_code is not null then 'township'
        else 'county'
    end as area_level,
    coalesce(village_code, township_code, county_code) as area_code,
    case
        when village_code is not null then township_code
        when township_code is not null then county_code
    end as parent_area_code
{%- endmacro %}
