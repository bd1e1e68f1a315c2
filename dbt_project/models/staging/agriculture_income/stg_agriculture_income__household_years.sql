-- Agricultural income per household and year, latest version of each household-year.
with

latest as (
    {{ latest_published_rows('agriculture_income', 'agriculture_income', ['household_id', 'income_year']) }}
),

final as (
    select
        household_id,
        cast(income_year as integer) as income_year,
        land_area_mu,
        main_crop,
        planting_net_income,
        livestock_net_income,
        land_transfer_income,
        {{ batch_lineage_columns() }},
        _sheet as source_sheet
    from latest
)

select * from final
