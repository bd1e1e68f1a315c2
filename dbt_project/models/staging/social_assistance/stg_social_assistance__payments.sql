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
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
