-- Social assistance payments to households, latest version of each payment.
with

latest as (
    {{ latest_published_rows('social_assistance', 'social_assistance', ['payment_id']) }}
),

final as (
    select
        payment_id,
        household_id,
        programme,
        amount,
        payment_date,
        enrolled_on,
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from latest
)

select * from final
