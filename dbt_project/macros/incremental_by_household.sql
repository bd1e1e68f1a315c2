{#- Incremental by household (issue 10): the risk-event chain downstream of the lifecycle
    inputs (int_risk_events_unioned, fct_risk_warning_events, fct_risk_warning_status_history,
    fct_risk_warning_lineage) computes every household's rows from that household's input rows
    alone (plus small shared inputs such as the rules in force). A daily run therefore
    recomputes only the households whose input rows changed, and replaces their rows
    (delete+insert on household_id); every other household keeps its rows untouched.

    Which households changed: each model names its inputs, the relations (or queries) that
    carry a household_id, and the shared ones that apply to every household. The content hash
    of a household's inputs is the md5 of the sorted md5s of its input rows (whole rows, every
    column) together with the hash of the shared inputs. audit.dbt_household_inputs records,
    per model (relation) and household, the hash its last build read. A daily run compares the
    hashes now with the recorded ones: a household whose hash differs, that is new, or that has
    no input row left is a changed household. So a new or corrected staging row, a late file,
    a superseded batch (a re-run of a past date), a past batch back in or out of the as-of
    scope, or a changed rule (a seed or what-if threshold: every household) reaches the
    model as a changed input row of that household, whatever the date it is dated. Hashing
    reads each input once (one scan and a group by, no joins for household-keyed inputs);
    what it saves is the model's own joins, windows and writes for the unchanged households.

    How the run uses it (three hooks and a filter, in one transaction):
      - pre-hook household_changes_prepare(inputs, shared): the hashes now (temporary table
        <model>__household_inputs) and the changed households (<model>__changed_households);
        in a daily run the rows of the changed households are deleted from the table, so a
        household whose inputs now give no rows loses its old ones (delete+insert alone would
        only replace households that still have rows);
      - in the model, changed_households_only(): restricts the model's input rows to the
        changed households (a daily run; `true` in a full build);
      - post-hook household_changes_record(): records the hashes of the changed households
        (every household in a full build).
    A full build (--full-refresh, a first build) computes every household and records every
    hash, so a daily run and a full refresh give the same rows
    (tests/scenarios/test_incremental.py compares every mart row by row). Without a recorded
    hash (a table built before this bookkeeping) every household counts as changed.
    Households are the distribution column on Citus (distribute_by_household); the temporary
    tables are per session and dropped at commit. -#}

{#- The hash of each household's inputs now: one row per household_id. keyed: relations or
    parenthesised queries with a household_id column; shared: relations or queries whose
    every row counts for every household. -#}
{% macro household_input_hashes(keyed, shared=[]) -%}
    with

    keyed_rows as (
        {%- for input in keyed %}
            select
                input_rows.household_id,
                md5(cast(input_rows as text)) as row_hash
            from {{ input }} as input_rows
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
    ),

    shared_rows as (
        select cast('' as text) as row_hash
        {%- for input in shared %}
            union all
            select md5(cast(shared_input as text)) as row_hash
            from {{ input }} as shared_input
        {%- endfor %}
    ),

    shared_hash as (
        select md5(string_agg(row_hash, ',' order by row_hash)) as hash
        from shared_rows
    )

    select
        keyed_rows.household_id,
        md5(string_agg(keyed_rows.row_hash, ',' order by keyed_rows.row_hash) || min(shared_hash.hash))
        as input_hash
    from keyed_rows
    cross join shared_hash
    where keyed_rows.household_id is not null
    group by keyed_rows.household_id
{%- endmacro %}

{#- The temporary tables of this model's run (schema-less: pg_temp). -#}
{% macro household_changes_table(kind) -%}
    {{ this.identifier ~ '__' ~ kind }}
{%- endmacro %}

{#- Pre-hook: the hashes now, the changed households and, in a daily run, the deletion of
    their rows. -#}
{% macro household_changes_prepare(keyed, shared=[]) -%}
    create temporary table {{ household_changes_table('household_inputs') }} on commit drop as
    {{ household_input_hashes(keyed, shared) }};
    create temporary table {{ household_changes_table('changed_households') }} on commit drop as
    select coalesce(now_read.household_id, recorded.household_id) as household_id
    from {{ household_changes_table('household_inputs') }} as now_read
    full outer join (
        select
            household_id,
            input_hash
        from {{ source('audit', 'dbt_household_inputs') }}
        where relation = '{{ scope_relation() }}'
    ) as recorded
        on now_read.household_id = recorded.household_id
    where
        {%- if is_incremental() %}
            now_read.input_hash is distinct from recorded.input_hash
        {%- else %}
            true
        {%- endif %};
    analyze {{ household_changes_table('changed_households') }}
    {%- if is_incremental() %};
        delete from {{ this }}
        where household_id in (select household_id from {{ household_changes_table('changed_households') }})
    {%- endif %}
{%- endmacro %}

{#- In the model: the condition that keeps the input rows of the changed households only
    (a daily run), or every row (a full build). -#}
{% macro changed_households_only(column='household_id') -%}
    {%- if is_incremental() -%}
        {{ column }} in (select household_id from {{ household_changes_table('changed_households') }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: the hashes this build read, for the households it computed. A what-if run
    (var schema_prefix, plugins/household_monitoring/whatif.py) records nothing: its tables are
    built whole in their own schemas each time, and production, audit included, must stay
    byte-identical. -#}
{% macro household_changes_record() -%}
    {%- if var('schema_prefix', none) -%}
        select 1
    {%- else -%}
    delete from {{ source('audit', 'dbt_household_inputs') }}
    where
        relation = '{{ scope_relation() }}'
        and household_id in (select household_id from {{ household_changes_table('changed_households') }});
    insert into {{ source('audit', 'dbt_household_inputs') }} (relation, household_id, input_hash)
    select
        '{{ scope_relation() }}',
        household_id,
        input_hash
    from {{ household_changes_table('household_inputs') }}
    where household_id in (select household_id from {{ household_changes_table('changed_households') }})
    {%- endif -%}
{%- endmacro %}
