-- Households whose annual per-capita net income, as of the as-of date, is below
-- the monitoring line or below a multiple of it (seed income_bands: below_line,
-- below_1_5x_line), with the gap to the line in yuan. One row per household, in
-- its lowest band. Households above every band are not listed.
with

income as (
    select * from {{ ref('mart_household_income') }}
    where as_of_date = {{ as_of_date() }}
),

bands as (
    select * from {{ ref('income_bands') }}
),

divisions as (
    select * from {{ ref('admin_divisions') }}
),

band_names as (
    select * from {{ ref('income_band_names') }}
),

banded as (
    select
        income.*,
        bands.band,
        bands.band_rank,
        cast(income.monitoring_line * bands.line_multiple as numeric(14, 2)) as band_threshold,
        row_number() over (partition by income.household_id order by bands.band_rank) as band_order
    from income
    inner join bands on income.per_capita_net_income < income.monitoring_line * bands.line_multiple
),

final as (
    select
        banded.household_id,
        banded.as_of_date,
        banded.township_code,
        townships.division_name as township_name,
        banded.village_code,
        villages.division_name as village_name,
        banded.household_category,
        banded.household_size,
        banded.per_capita_net_income,
        banded.monitoring_line,
        banded.gap_to_monitoring_line,
        banded.band,
        {{ localized_name('band_names') }} as band_name,
        banded.band_threshold
    from banded
    left join divisions as townships on banded.township_code = townships.division_code
    left join divisions as villages on banded.village_code = villages.division_code
    left join band_names on banded.band = band_names.band
    where banded.band_order = 1
)

select * from final
