{{ config(
    pre_hook=["{{ batch_scope_prepare('medical_settlements', upstream=ref('stg_medical_settlements__settlements')) }}"]
) }}
-- The versions of the settlements corrected after their first publication (issue 10: a
-- correction of an old settlement counts from its own date). One row per corrected
-- settlement and logical date on which its values changed: that day's last version
-- (delivery time, batch, row; the order of latest_published_rows), unless it repeats the
-- values of the version before it. fct_risk_warning_lineage cites the version in force on
-- a transition's date from here. A settlement is
-- corrected when its latest version in stg_medical_settlements__settlements came with a
-- later logical date than its first publication (known_on); all others have one version
-- in scope and are not listed. int_medical_out_of_pocket_summed_to_household_day turns
-- each version after the first into a change of the household's out-of-pocket sum on the
-- version's own date, so the sums of the dates before it never change.
-- Only the raw rows of corrected settlements are ranked (a filter on the settlement
-- number; the raw table is scanned, not ranked). The batches read are those
-- stg_medical_settlements__settlements was built from (its recorded scope), so a file
-- published during the build reaches both in the same later run.
with

settlements as (
    select * from {{ ref('stg_medical_settlements__settlements') }}
),

batches as (
    select * from {{ source('audit', 'load_batches') }}
),

corrected as (
    select settlements.settlement_id
    from settlements
    inner join batches on settlements.batch_id = batches.batch_id
    where batches.logical_date > settlements.known_on
),

versions as (
    select
        published.*,
        {{ source_record('medical_settlements') }} as record,
        row_number() over (
            partition by published.settlement_id, published._logical_date
            order by published._delivered_at desc, published._batch_id desc, published._row_number desc
        ) as rank_in_day
    from ({{ published_rows('medical_settlements', 'medical_settlements', build_scope=true) }}) as published
    where published.settlement_id in (select corrected.settlement_id from corrected)
),

-- a day whose last version repeats the day before's values (the same file sent again) is
-- not a version: the earlier delivery stays the one that brought them
day_versions as (
    select
        *,
        (record is distinct from lag(record) over (partition by settlement_id order by _logical_date)) as is_change
    from versions
    where rank_in_day = 1
),

final as (
    select
        settlement_id,
        _logical_date as published_on,
        discharge_date,
        out_of_pocket,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from day_versions
    where is_change
)

select * from final
