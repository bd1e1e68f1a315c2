{#- Rows of a raw table that belong to published batches (they passed the quality
    gate) whose logical date is on or before var('as_of_date'), with the batch's
    file name and hash from the ledger. Write-audit-publish: raw rows of a batch
    that was rejected or failed validation are never read downstream.
    build_scope: the batches are this build's copy of the scope (a model whose first
    pre-hook is batch_scope_prepare, macros/incremental_staging.sql), not the ledger
    as it is when the model's query runs (in a dbt unit test, where no hook runs, the
    ledger fixture). -#}
{% macro published_rows(source_name, table_name, build_scope=false) -%}
    select
        src.*,
        batches.file_name as _file_name,
        batches.file_hash as _file_hash,
        batches.loaded_at as _loaded_at,
        coalesce(batches.delivered_at, batches.started_at) as _delivered_at
    from {{ source(source_name, table_name) }} as src
    inner join {{ source('audit', 'load_batches') }} as batches
        on src._batch_id = batches.batch_id
    where
        {%- if build_scope and this.identifier %}
            batches.batch_id in ({{ batches_in_scope(source_name) }})
        {%- else %}
            batches.status = 'published'
            {%- if var('as_of_date') %}
                and batches.logical_date <= {{ as_of_date() }}
            {%- endif %}
        {%- endif %}
{%- endmacro %}

{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}

{#- The latest version of each record (by key) among the published rows: a record
    sent again (a correction) is taken from the latest logical date, then the latest
    delivered file (a same-day correction in a second file wins, whatever its name,
    and re-running the date keeps that order), then the latest batch, then the last
    row; earlier versions stay in raw for the audit trail.
    _first_known_on is the logical date the record was first published: the date the
    pipeline learnt of it, which a re-delivery of the same record never moves.
    A version is a change of the record's contract columns (those of the source's yml,
    generated from its contract): a record delivered again unchanged (a cumulative export,
    the same file sent again on a later day) keeps the batch, row and file of the delivery
    that brought its current values, so a warning's lineage never cites a file published
    after the warning. Sent back to an earlier value (A, B, A), the record's version is the
    delivery that brought it back.
    In an incremental model's daily run only the records the changed batches can change
    are ranked (macros/incremental_staging.sql); a full build ranks every record. -#}
{% macro latest_published_rows(source_name, table_name, key_columns) -%}
    {%- if is_incremental() %}
    with

    changed as (
        {{ changed_batches(source_name) }}
    ),

    changed_keys as (
        {{ changed_keys(source_name, table_name, key_columns) }}
    )

    {% endif -%}
    {%- set record = source_record(source_name) %}
    select *
    from (
        select
            deliveries.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by
                    deliveries._logical_date desc,
                    deliveries._delivered_at desc,
                    deliveries._batch_id desc,
                    deliveries._row_number desc
            ) as _version_rank
        from (
            select
                published.*,
                min(published._logical_date) over (partition by {{ key_columns | join(', ') }}) as _first_known_on,
                ({{ record }} is distinct from lag({{ record }}) over (
                    partition by {{ key_columns | join(', ') }}
                    order by
                        published._logical_date,
                        published._delivered_at,
                        published._batch_id,
                        published._row_number
                )) as _is_new_version
            from ({{ published_rows(source_name, table_name, build_scope=true) }}) as published
            {%- if is_incremental() %}
                where ({{ key_columns | join(', ') }}) in (select {{ key_columns | join(', ') }} from changed_keys)
            {%- endif %}
        ) as deliveries
        where _is_new_version
    ) as versions
    where _version_rank = 1
{%- endmacro %}

{#- A record's version as a row of its contract columns (contract_sources(), generated from
    the contract), read from the alias published: row(published.<column>, ...). -#}
{% macro source_record(source_name) -%}
    {%- set columns = [] -%}
    {%- for src in contract_sources() if src.name == source_name -%}
        {%- for column in src.columns -%}
            {%- do columns.append('published.' ~ column) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if execute and not columns -%}
        {{ exceptions.raise_compiler_error('no contract lists the columns of source ' ~ source_name) }}
    {%- endif -%}
    row({{ columns | join(', ') if columns else 'published._batch_id' }})
{%- endmacro %}

{#- The lineage columns every staging model of a versioned source ends with: when the
    record was first published, and the batch, row and file of the delivery that brought its
    current values (latest_published_rows). -#}
{% macro batch_lineage_columns() -%}
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
{%- endmacro %}
