{#- Incremental staging (issue 10): a daily run re-derives only the records that the
    batches changed since the table was last built can change, instead of re-ranking
    every raw row ever loaded.

    The batches a staging table reflects (its scope) are the source's published
    batches with a logical date on or before var('as_of_date') (published_rows).
    audit.dbt_batch_scope records, per table, the scope it was last built from
    (record_batch_scope, a post-hook in the same transaction as the build). A daily
    run compares it with the ledger: the batches in the scope now and not then (a
    newly published file, a late file for a past date, a past batch back in scope
    when a later as-of date is built again) and those in it then and not now (a
    superseded batch of a re-run date, batches after the as-of date of a re-run of a
    past date) are the changed batches.

    A record (key) is derived again, from all its versions in scope, when
      - a changed batch holds a version of it (its raw rows: batches entering the
        scope, and batches leaving it whose rows are still in raw), or
      - its latest version came from a changed batch (batch_id: covers a superseded
        batch, whose raw rows the loader deleted), or
      - it was first published on the logical date of a changed batch (known_on: a
        removed batch may have held its first version).
    Nothing else can change a record: a staging row is its latest version in scope
    (order: logical date, delivery time, batch, row; macro latest_published_rows) and
    the date of its first version. A record with no version left in scope (its only
    batch superseded by a file without it, or after the as-of date) is deleted
    (delete_records_out_of_scope). So a daily run gives the rows a full build
    (--full-refresh) gives; tests/scenarios/test_incremental.py checks it with a late
    file, a re-run of a past date and a correction of an old settlement.
    Without a recorded scope (a table built before this bookkeeping, the record
    deleted) every batch in scope counts as changed: a full recomputation.

    One reading of the ledger per build: the first pre-hook (batch_scope_prepare) copies
    the batches in scope into a temporary table, and the model, its other hooks and the
    recorded scope all read that copy. A department's file published while the model
    builds is then neither read nor recorded: the next run finds it as a changed batch.
    (Read twice, such a batch was recorded without its rows being derived, and a register
    batch could make the truncate see no change and the model a change: the extract twice.) -#}

{#- The published batches of a source in the scope of this run, as the ledger says now. -#}
{% macro ledger_batches_in_scope(source_name) -%}
    select batch_id
    from {{ source('audit', 'load_batches') }}
    where
        source = '{{ source_name }}'
        and status = 'published'
        {%- if var('as_of_date') %}
            and logical_date <= {{ as_of_date() }}
        {%- endif %}
{%- endmacro %}

{#- The temporary table of this build's scope (schema-less: pg_temp). -#}
{% macro batch_scope_table() -%}
    {{ this.identifier ~ '__batch_scope' }}
{%- endmacro %}

{#- First pre-hook of every model that records its scope: the ledger read once. A model
    derived from another such model instead of from raw (upstream, a relation) takes the
    scope that model recorded: the batches its rows reflect, which a batch published
    after that model read the ledger is not part of. -#}
{% macro batch_scope_prepare(source_name, upstream=none) -%}
    create temporary table {{ batch_scope_table() }} on commit drop as
    {%- if upstream %}
        select batch_id
        from {{ source('audit', 'dbt_batch_scope') }}
        where relation = '{{ scope_relation(upstream) }}'
    {%- else %}
        {{ ledger_batches_in_scope(source_name) }}
    {%- endif %};
    analyze {{ batch_scope_table() }}
{%- endmacro %}

{#- The published batches of a source in the scope of this run (batch_id): this build's
    copy (batch_scope_prepare). In a dbt unit test no hook runs and the ledger is a fixture:
    read it. -#}
{% macro batches_in_scope(source_name) -%}
    {%- if this.identifier -%}
        select batch_id from {{ batch_scope_table() }}
    {%- else -%}
        {{ ledger_batches_in_scope(source_name) }}
    {%- endif -%}
{%- endmacro %}

{#- The batches whose membership of the scope changed since this table was last built. -#}
{% macro changed_batches(source_name) -%}
    (
        ({{ batches_in_scope(source_name) }})
        except
        (select batch_id from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}')
    )
    union all
    (
        (select batch_id from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}')
        except
        ({{ batches_in_scope(source_name) }})
    )
{%- endmacro %}

{#- The keys to derive again in a daily run (see above), from the CTE `changed`
    (changed_batches); key_columns are named and typed alike in the raw table and the
    staging table. -#}
{% macro changed_keys(source_name, table_name, key_columns) -%}
    select {{ key_columns | join(', ') }}
    from {{ source(source_name, table_name) }}
    where _batch_id in (select batch_id from changed)
    union
    select {{ key_columns | join(', ') }}
    from {{ this }}
    where
        batch_id in (select batch_id from changed)
        or known_on in (
            select changed_ledger.logical_date
            from {{ source('audit', 'load_batches') }} as changed_ledger
            where changed_ledger.batch_id in (select batch_id from changed)
        )
{%- endmacro %}

{#- Post-hook: records whose every version left the scope. After the delete+insert, a
    record still in scope carries a batch in scope; one left with a batch that left the
    scope has no version in it any more. -#}
{% macro delete_records_out_of_scope(source_name) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where batch_id in (
            (select batch_id from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}')
            except
            ({{ batches_in_scope(source_name) }})
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook (after delete_records_out_of_scope): the scope this build reflects. -#}
{% macro record_batch_scope(source_name) -%}
    delete from {{ source('audit', 'dbt_batch_scope') }} where relation = '{{ scope_relation() }}';
    insert into {{ source('audit', 'dbt_batch_scope') }} (relation, batch_id)
    select '{{ scope_relation() }}', batch_id from ({{ batches_in_scope(source_name) }}) as scoped_batches
{%- endmacro %}

{#- A table's name in dbt's bookkeeping (audit.dbt_batch_scope, the household change feed and
    its reads): schema and table, not the database, so a copy of the warehouse (create
    database .. template) keeps its bookkeeping. relation: another model's (a ref); by
    default this model's. In a dbt unit test `this` is a CTE with neither: 'unit_test'. -#}
{% macro scope_relation(relation=none) -%}
    {%- if relation is not none -%}
        {{ relation.schema }}.{{ relation.identifier }}
    {%- elif this.identifier -%}
        {{ this.schema }}.{{ this.identifier }}
    {%- else -%}
        unit_test
    {%- endif -%}
{%- endmacro %}

{#- Snapshot sources (the household register: each delivery is a full extract for its
    logical date). A record of such a source is a person on an extract date, so a daily
    run derives again whole the extract dates of the changed batches (changed_extract_dates;
    delete+insert on the date) and a model of every extract (memberships) or of the latest
    one is derived again only when a batch changed (truncate_if_batches_changed, and
    batches_changed() in the model): on a day without a register batch it reads nothing. -#}
{% macro changed_extract_dates(source_name) -%}
    select distinct changed_ledger.logical_date
    from {{ source('audit', 'load_batches') }} as changed_ledger
    where changed_ledger.batch_id in ({{ changed_batches(source_name) }})
{%- endmacro %}

{#- In the model: the condition that keeps the rows of the changed extract dates (a daily
    run), or every row (a full build). -#}
{% macro changed_extract_dates_only(source_name, column='_logical_date') -%}
    {%- if is_incremental() -%}
        {{ column }} in ({{ changed_extract_dates(source_name) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- True when a batch of the source entered or left this table's scope since its last
    build (always true in a full build). -#}
{% macro batches_changed(source_name) -%}
    {%- if is_incremental() -%}
        exists (select 1 from ({{ changed_batches(source_name) }}) as changed)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a model derived from every extract (or the latest one) as a whole: the
    table is emptied when a batch changed, and the model then derives every row again.
    Truncated, not deleted: the rows go in again at once, into empty indexes (at 1,000,000
    households 3.9 M rows went back into a deleted-from int_household_members in 117 s). -#}
{% macro truncate_if_batches_changed(source_name) -%}
    {%- if is_incremental() -%}
        do $$ begin if {{ batches_changed(source_name) }} then truncate table {{ this }}; end if; end $$
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The logical date of the latest published extract in scope that holds rows. -#}
{% macro latest_extract_date(source_name) -%}
    select max(logical_date)
    from {{ source('audit', 'load_batches') }}
    where
        batch_id in ({{ batches_in_scope(source_name) }})
        and rows_loaded > 0
{%- endmacro %}
