{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['visit_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['visit_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('verifications') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('verifications') }}",
        "{{ record_batch_scope('verifications') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- One row per home visit by a village official. A visit sent again is taken
-- from the latest published batch. The note is redacted (macros/redact_personal_data.sql).
with

latest as (
    {{ latest_published_rows('verifications', 'verifications', ['visit_id']) }}
),

member_names as (
    {{ household_member_names_patterns('latest') }}
),

visits as (
    select
        latest.*,
        member_names.names_pattern
    from latest
    left join member_names
        on latest.household_id = member_names.household_id
),

final as (
    select
        visit_id,
        warning_id,
        household_id,
        visit_date,
        verifier,
        result as verification_result,
        -- the official's free text: resident IDs and the household's member names redacted
        {{ redact_household_note('note', 'names_pattern') }} as verification_note,
        annual_income_found,
        {{ batch_lineage_columns() }}
    from visits
)

select * from final
