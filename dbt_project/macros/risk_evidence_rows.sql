{#- Lineage of warning evidence (fct_risk_warning_lineage, issue 10): every row an evidence
    id of a warning transition can name, by evidence model and id, with the batch and the row
    number of the record's latest version. One place for the model and for the change
    detection of its daily run (lineage_evidence_moved). -#}
{#- batch_filter: a condition on batch_id (the rows of some batches only); lookup: a query of
    (evidence_model, evidence_id), the rows of those ids only, found through each table's index
    on its key (the cost follows the ids, not the tables); relations=true: the evidence tables'
    names in audit.dbt_batch_scope instead, quoted and comma-separated. -#}
{% macro risk_evidence_rows(batch_filter='true', lookup=none, relations=false) -%}
    {#- (evidence model, its key columns and their types): the evidence id fct_risk_warning_events
        names is the key, its columns joined by '|' -#}
    {%- set evidence_models = [
        ('stg_medical_settlements__settlements', [('settlement_id', 'text')]),
        ('stg_verifications__home_visits', [('visit_id', 'text')]),
        ('stg_housing_water__assessments', [('household_id', 'text'), ('assessed_on', 'date')]),
        ('stg_education__student_records', [('record_id', 'text')]),
        ('stg_disability__certificates', [('certificate_id', 'text')]),
        ('stg_social_assistance__payments', [('payment_id', 'text')]),
        ('stg_employment__records', [('record_id', 'text')]),
        ('stg_household_register__extract_members', [('household_id', 'text'), ('extract_date', 'date')]),
    ] -%}
    {%- for model, key in evidence_models %}
    {%- if relations %}
    '{{ scope_relation(ref(model)) }}'{{ ',' if not loop.last }}
    {%- else %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        '{{ model }}' as evidence_model,
        {% for column, _ in key %}{{ column }}{{ " || '|' || " if not loop.last }}{% endfor %} as evidence_id,
        batch_id,
        source_row_number
    from {{ ref(model) }}
    where
        {{ batch_filter }}
        {%- if lookup %}
            and ({% for column, _ in key %}{{ column }}{{ ', ' if not loop.last }}{% endfor %}) in (
                select
                    {%- for column, column_type in key %}
                        {%- if key | length == 1 %}
                            cast(wanted.evidence_id as {{ column_type }})
                        {%- else %}
                            cast(split_part(wanted.evidence_id, '|', {{ loop.index }}) as {{ column_type }})
                            {{- ',' if not loop.last }}
                        {%- endif %}
                    {%- endfor %}
                from ({{ lookup }}) as wanted
                where wanted.evidence_model = '{{ model }}'
            )
        {%- endif %}
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- Where evidence can have moved since the lineage's last build (a daily run). An evidence
    row's batch and row number change only when its staging table derived the record again,
    which it does for the records of the batches that entered or left its scope
    (macros/incremental_staging.sql). So the batches in the evidence tables' scopes now
    (the union of what they recorded in audit.dbt_batch_scope) are compared with those the
    lineage's last build recorded (relation: the lineage), and the evidence of the changed
    batches is followed: lineage rows that point to such a batch (the record moved away or
    left the scope) and evidence rows now in such a batch (the record moved there, or came).
    The lineage is indexed on batch_id and on (evidence_model, evidence_id) for these two
    lookups (ensure_index). Pre-hook, before household_changes_prepare, which takes
    lineage_evidence_moved() as its moved households; record_evidence_scope() is its
    post-hook. -#}
{% macro evidence_scope_prepare() -%}
    create temporary table {{ batch_scope_table() }} on commit drop as
    select distinct batch_id
    from {{ source('audit', 'dbt_batch_scope') }}
    where relation in ({{ risk_evidence_rows(relations=true) }});
    create temporary table {{ this.identifier ~ '__changed_batches' }} on commit drop as
    (
        select batch_id from {{ batch_scope_table() }}
        except
        select batch_id from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}'
    )
    union
    (
        select batch_id from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}'
        except
        select batch_id from {{ batch_scope_table() }}
    );
    analyze {{ this.identifier ~ '__changed_batches' }}
{%- endmacro %}

{#- The households whose evidence may have moved (a query of household_id; daily runs). -#}
{% macro lineage_evidence_moved() -%}
    {%- set changed_batches = 'select batch_id from ' ~ this.identifier ~ '__changed_batches' -%}
    select lineage.household_id
    from {{ this }} as lineage
    where lineage.batch_id in ({{ changed_batches }})
    union
    select lineage.household_id
    from {{ this }} as lineage
    inner join ({{ risk_evidence_rows('batch_id in (' ~ changed_batches ~ ')') }}) as moved
        on lineage.evidence_model = moved.evidence_model and lineage.evidence_id = moved.evidence_id
{%- endmacro %}

{#- Post-hook: the evidence tables' scope this build followed (what-if runs record nothing). -#}
{% macro record_evidence_scope() -%}
    {%- if var('schema_prefix', none) -%}
        select 1
    {%- else -%}
    delete from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}';
    insert into {{ source('audit', 'dbt_batch_scope') }} (relation, batch_id)
    select '{{ scope_relation() }}', batch_id from {{ batch_scope_table() }}
    {%- endif -%}
{%- endmacro %}

{#- Each evidence id of each warning transition, located: the lineage model's input per
    household (transition, evidence id, and the batch and row it is found in: the record's
    current version — the delivery that brought its current values — except a settlement
    corrected after the transition, cited as the version in force on the transition's date,
    stg_medical_settlements__corrected_versions). -#}
{% macro lineage_evidence_located(household_filter='true') -%}
    with

    evidence as (
        -- distinct: an accumulated evidence list names a corrected settlement twice (its first
        -- version and its correction); the lineage lists the row once
        select distinct
            household_id,
            warning_event_id,
            warning_id,
            transition,
            event_date,
            evidence_model,
            unnest(evidence_ids) as evidence_id
        from {{ ref('fct_risk_warning_events') }}
        where {{ household_filter }}
    ),

    -- a settlement corrected after its first publication is cited as the version in force on
    -- the transition's date (the row the warning was raised on, not the later correction)
    settlement_versions as (
        select distinct on (evidence.warning_event_id, evidence.evidence_id)
            evidence.warning_event_id,
            evidence.evidence_id,
            versions.batch_id,
            versions.source_row_number
        from evidence
        inner join {{ ref('stg_medical_settlements__corrected_versions') }} as versions
            on
                evidence.evidence_id = versions.settlement_id
                and versions.published_on <= evidence.event_date
        where evidence.evidence_model = 'stg_medical_settlements__settlements'
        order by evidence.warning_event_id asc, evidence.evidence_id asc, versions.published_on desc
    )

    select
        evidence.household_id,
        evidence.warning_event_id,
        evidence.warning_id,
        evidence.transition,
        evidence.event_date,
        evidence.evidence_model,
        evidence.evidence_id,
        coalesce(settlement_versions.batch_id, evidence_rows.batch_id) as batch_id,
        case
            when settlement_versions.batch_id is not null then settlement_versions.source_row_number
            else evidence_rows.source_row_number
        end as source_row_number
    from evidence
    left join ({{ risk_evidence_rows(lookup='select evidence_model, evidence_id from evidence') }}) as evidence_rows
        on
            evidence.evidence_model = evidence_rows.evidence_model
            and evidence.evidence_id = evidence_rows.evidence_id
    left join settlement_versions
        on
            evidence.warning_event_id = settlement_versions.warning_event_id
            and evidence.evidence_id = settlement_versions.evidence_id
{%- endmacro %}
