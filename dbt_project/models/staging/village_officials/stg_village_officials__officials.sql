{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['official_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['official_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('village_officials') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('village_officials') }}",
        "{{ record_batch_scope('village_officials') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- One row per official's posting (village specialist, township supervisor, county
-- officer), latest version from the roster. Names, phones and emails are the
-- officials' personal data: only this view and raw hold them; marts carry official_id.
with

latest as (
    {{ latest_published_rows('village_officials', 'village_officials', ['official_id']) }}
),

final as (
    select
        official_id,
        official_name,
        role,
        area_code,
        case role
            when 'village_specialist' then 'village'
            when 'township_supervisor' then 'township'
            when 'county_officer' then 'county'
        end as area_level,
        phone,
        email,
        active_from,
        active_to,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
