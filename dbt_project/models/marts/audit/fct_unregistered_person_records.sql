-- Records of the person-level departmental sources whose person is in no household
-- register extract published up to the as-of date (issue 12). Such a record links to no
-- household, so it counts in no household's figures (a settlement's out-of-pocket drops
-- out of the illness window): it is listed here for the auditor, one row per record,
-- and counted per source and day in fct_source_daily_scorecard, never dropped silently.
-- is_id_suspect_zeroed: the resident ID ends in 000, the mark of an ID that went through
-- a spreadsheet as a number (Excel keeps 15 significant digits; the last three of the 18
-- become 000) and still passed MOD 11-2 (one time in eleven). No resident ID or name:
-- the person is given by their salted key.
with

members as (
    select * from {{ ref('stg_household_register__members') }}
),

batches as (
    select * from {{ ref('stg_audit__load_batches') }}
),

settlements as (
    select * from {{ ref('stg_medical_settlements__settlements') }}
),

employment as (
    select * from {{ ref('stg_employment__records') }}
),

certificates as (
    select * from {{ ref('stg_disability__certificates') }}
),

students as (
    select * from {{ ref('stg_education__student_records') }}
),

welfare_jobs as (
    select * from {{ ref('stg_public_welfare_jobs__job_spells') }}
),

registered as (
    select distinct person_key from members
),

person_records as (
    select
        'medical_settlements' as source_name,
        settlement_id as record_id,
        person_id,
        person_key,
        'out_of_pocket' as amount_kind,
        out_of_pocket as amount_yuan,
        known_on,
        batch_id,
        source_row_number,
        source_file_name
    from settlements
    union all
    select
        'employment' as source_name,
        record_id,
        person_id,
        person_key,
        'monthly_wage' as amount_kind,
        monthly_wage as amount_yuan,
        known_on,
        batch_id,
        source_row_number,
        source_file_name
    from employment
    union all
    select
        'disability' as source_name,
        certificate_id as record_id,
        person_id,
        person_key,
        cast(null as text) as amount_kind,
        cast(null as numeric(14, 2)) as amount_yuan,
        known_on,
        batch_id,
        source_row_number,
        source_file_name
    from certificates
    union all
    select
        'education' as source_name,
        record_id,
        person_id,
        person_key,
        'aid_amount' as amount_kind,
        aid_amount as amount_yuan,
        known_on,
        batch_id,
        source_row_number,
        source_file_name
    from students
    union all
    select
        'public_welfare_jobs' as source_name,
        job_id as record_id,
        person_id,
        person_key,
        'monthly_pay' as amount_kind,
        monthly_pay as amount_yuan,
        known_on,
        batch_id,
        source_row_number,
        source_file_name
    from welfare_jobs
),

unregistered as (
    select person_records.*
    from person_records
    left join registered
        on person_records.person_key = registered.person_key
    where registered.person_key is null
),

final as (
    select
        unregistered.source_name || '|' || unregistered.record_id as unregistered_record_id,
        unregistered.source_name,
        unregistered.record_id,
        unregistered.person_key,
        right(unregistered.person_id, 3) = '000' as is_id_suspect_zeroed,
        unregistered.amount_kind,
        unregistered.amount_yuan,
        unregistered.known_on,
        batches.logical_date as batch_logical_date,
        unregistered.batch_id,
        unregistered.source_row_number,
        unregistered.source_file_name,
        {{ as_of_date() }} as as_of_date
    from unregistered
    inner join batches
        on unregistered.batch_id = batches.batch_id
)

select * from final
