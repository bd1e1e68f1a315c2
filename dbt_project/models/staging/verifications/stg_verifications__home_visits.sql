-- One row per home visit by a village official. A visit sent again is taken
-- from the latest published batch.
with

published as (
    {{ published_rows('verifications', 'verifications') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by visit_id
            order by _logical_date desc, _batch_id desc, _row_number desc
        ) as row_rank
    from published
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
        _logical_date as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from ranked
    where row_rank = 1
)

select * from final
