-- Employment status of each person as spells (valid_from..valid_to, valid_to null
-- while current), as of the as-of date: int_person_employment_spells for analysts.
-- "Who was employed on date X":
--   where is_employed and X between valid_from and coalesce(valid_to, 'infinity').
with

spells as (
    select * from {{ ref('int_person_employment_spells') }}
),

final as (
    select * from spells
)

select * from final  -- noqa: AM04
