-- One row per home visit by a village official. A visit sent again is taken
-- from the latest published batch.
with

latest as (
    {{ latest_published_rows('verifications', 'verifications', ['visit_id']) }}
),

final as (
    select
        visit_id,
        warning_id,
        household_id,
        visit_date,
        verifier,
        result as verification_result,
        note as verification_note,
        annual_income_found,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
