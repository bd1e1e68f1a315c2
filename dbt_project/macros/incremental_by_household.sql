{#- Incremental by household (issue 10): the risk-event chain downstream of the lifecycle
    inputs (int_risk_events_unioned, int_risk_warning_states_walked, fct_risk_warning_events,
    fct_risk_warning_status_history, fct_risk_warning_lineage) computes every household's rows
    from that household's input rows alone (plus small shared inputs such as the rules in
    force). A daily run therefore recomputes only the households whose input rows changed,
    and replaces their rows (delete+insert on household_id); every other household keeps its
    rows untouched.

    Which households changed, from three kinds of input, so that the cost follows the day's
    changes and not the history:
      - upstream: another model of this chain. Each build of a model of the chain writes the
        households it computed again to a change feed, audit.dbt_household_changes (one
        change_seq per build, from the sequence audit.dbt_household_change_seq; a null
        household_id: every household, a full build). A reader records in
        audit.dbt_household_change_reads the last change_seq of each upstream model its build
        took; the next build takes the households of the changes after it. Nothing is hashed
        and no history is read: a day's cost is the day's changed households. A build that
        fails writes and records nothing (the hooks are in the model's transaction), so the
        next build takes the changes it missed. A model's next build deletes its entries every
        reader has taken, but for its latest (what its last build with changes computed again).
      - keyed: a table outside the chain with a household_id column (staging tables, signals
        rebuilt daily). The content hash of a household's rows (md5 of the sorted md5s of its
        rows, every column) is compared with the one the model's last build recorded in
        audit.dbt_household_inputs: a household whose hash differs, that is new, or that has
        no row left changed. This reads the whole input once (one scan and a group by).
      - shared: a relation whose every row counts for every household (the rules in force).
        Its hash (audit.dbt_household_change_reads, upstream '(shared inputs)') differing
        from the last build's: every household changed.
    Every household changed, too, when an upstream model was built in full since (a null
    change) or the model never read that upstream (a table built before this bookkeeping).
    A model may add households of its own (moved: a query of household_id; the lineage adds
    those whose evidence moved to another batch or row).
    So a new or corrected staging row, a late file, a superseded batch (a re-run of a past
    date), a past batch back in or out of the as-of scope, or a changed rule (a seed or
    what-if threshold: every household) reaches each model as a changed household, whatever
    the date it is dated. Builds are one at a time (the warehouse's marts lock,
    plugins/household_monitoring/pipeline.py), so change_seq order is commit order.

    How a model uses it (hooks and a filter, in the model's one transaction):
      - pre-hook household_changes_prepare(keyed, shared, upstream, moved, delete_changed):
        the temporary tables <model>__build (full build or not), __upstream_reads,
        __shared_inputs, __household_inputs (hashes now) and __changed_households; in a daily
        run the rows of the changed households are deleted from the table (unless
        delete_changed=false: the lifecycle walks on from its earlier states), so a household
        whose inputs now give no rows loses its old ones;
      - in the model, changed_households_only(): restricts the model's input rows to the
        changed households (a daily run; `true` in a full build);
      - post-hook household_changes_record(): the hashes of the changed households (every
        household in a full build), the model's entry in the change feed and its reads.
    The first daily run of this version on tables built by the hash-only version before it
    (no reads recorded yet) computes every household once, as a full build would.
    A full build (--full-refresh, a first build) computes every household, so a daily run
    and a full refresh give the same rows (tests/scenarios/test_incremental.py compares every
    mart row by row). Households are the distribution column on Citus
    (distribute_by_household); the temporary tables are per session and dropped at commit. -#}

{#- The hash of each household's rows in the keyed inputs now: one row per household_id.
    keyed: relations or parenthesised queries with a household_id column. -#}
{% macro household_input_hashes(keyed) -%}
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
    )

    select
        household_id,
        md5(string_agg(row_hash, ',' order by row_hash)) as input_hash
    from keyed_rows
    where household_id is not null
    group by household_id
{%- endmacro %}

{#- The temporary tables of this model's run (schema-less: pg_temp). -#}
{% macro household_changes_table(kind) -%}
    {{ this.identifier ~ '__' ~ kind }}
{%- endmacro %}

{#- Pre-hook: what this build reads (see above), the changed households and, in a daily run,
    the deletion of their rows. -#}
{% macro household_changes_prepare(keyed=[], shared=[], upstream=[], moved=none, delete_changed=true) -%}
    {%- set reads = source('audit', 'dbt_household_change_reads') -%}
    {%- set feed = source('audit', 'dbt_household_changes') -%}
    create temporary table {{ household_changes_table('build') }} on commit drop as
    select {{ 'false' if is_incremental() else 'true' }} as full_build;

    create temporary table {{ household_changes_table('upstream_reads') }} on commit drop as
    select
        upstreams.upstream,
        coalesce(
            (select max(changes.change_seq) from {{ feed }} as changes where changes.relation = upstreams.upstream),
            previous.read_through,
            0
        ) as read_through,
        previous.read_through as read_before,
        previous.relation is not null as was_read
    from (
        select cast(null as text) as upstream
        where false
        {%- for model in upstream %}
            union all
            select '{{ scope_relation(model) }}'
        {%- endfor %}
    ) as upstreams
    left join {{ reads }} as previous
        on previous.relation = '{{ scope_relation() }}' and upstreams.upstream = previous.upstream;

    create temporary table {{ household_changes_table('shared_inputs') }} on commit drop as
    with

    shared_rows as (
        select cast('' as text) as row_hash
        {%- for input in shared %}
            union all
            select md5(cast(shared_input as text)) as row_hash
            from {{ input }} as shared_input
        {%- endfor %}
    )

    select md5(string_agg(row_hash, ',' order by row_hash)) as input_hash
    from shared_rows;

    create temporary table {{ household_changes_table('household_inputs') }} on commit drop as
    {%- if keyed %}
        {{ household_input_hashes(keyed) }}
    {%- else %}
        select
            cast(null as text) as household_id,
            cast(null as text) as input_hash
        where false
    {%- endif %};

    create temporary table {{ household_changes_table('changed_households') }} on commit drop as
    {%- if is_incremental() %}
        with

        everything as (
            select (
                exists (
                    select 1
                    from {{ household_changes_table('upstream_reads') }} as upstream_reads
                    where
                        not upstream_reads.was_read
                        or exists (
                            select 1
                            from {{ feed }} as changes
                            where
                                changes.relation = upstream_reads.upstream
                                and changes.change_seq > coalesce(upstream_reads.read_before, 0)
                                and changes.change_seq <= upstream_reads.read_through
                                and changes.household_id is null
                        )
                )
                or (select input_hash from {{ household_changes_table('shared_inputs') }}) is distinct from (
                    select input_hash
                    from {{ reads }}
                    where relation = '{{ scope_relation() }}' and upstream = '(shared inputs)'
                )
            ) as is_true
        )

        -- every household (everything changed): those in the table and in every input
        select household_id from {{ this }}
        where (select is_true from everything)
        {%- for model in upstream %}
            union
            select household_id from {{ model }}
            where (select is_true from everything)
        {%- endfor %}
        {%- for input in keyed %}
            union
            select household_id from {{ input }} as keyed_input
            where (select is_true from everything) and household_id is not null
        {%- endfor %}

        -- the households the upstream models computed again since this model read them
        union
        select changes.household_id
        from {{ feed }} as changes
        inner join {{ household_changes_table('upstream_reads') }} as upstream_reads
            on
                changes.relation = upstream_reads.upstream
                and changes.change_seq > coalesce(upstream_reads.read_before, 0)
                and changes.change_seq <= upstream_reads.read_through
        where changes.household_id is not null

        -- the households whose keyed input rows differ from those recorded
        union
        select coalesce(now_read.household_id, recorded.household_id)
        from {{ household_changes_table('household_inputs') }} as now_read
        full outer join (
            select
                household_id,
                input_hash
            from {{ source('audit', 'dbt_household_inputs') }}
            where relation = '{{ scope_relation() }}'
        ) as recorded
            on now_read.household_id = recorded.household_id
        where now_read.input_hash is distinct from recorded.input_hash
        {%- if moved %}

            -- the model's own
            union
            select household_id from ({{ moved }}) as moved
        {%- endif %};
    {%- else %}
        select cast(null as text) as household_id
        where false;
    {%- endif %}
    analyze {{ household_changes_table('changed_households') }}
    {%- if is_incremental() and delete_changed %};
        delete from {{ this }}
        where household_id in (select household_id from {{ household_changes_table('changed_households') }})
    {%- endif %}
{%- endmacro %}

{#- In the model: the condition that keeps the input rows of the changed households only
    (a daily run), or every row (a full build; a dbt unit test, where no hook runs). -#}
{% macro changed_households_only(column='household_id') -%}
    {%- if is_incremental() and this.identifier -%}
        {{ column }} in (select household_id from {{ household_changes_table('changed_households') }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: the hashes this build read for the households it computed (every household in
    a full build), the model's entry in the change feed (its changed households; in a full
    build one null row: every household), what it read of the feed and of the shared inputs,
    and its own earlier feed entries every reader has taken (of a model no model reads, all).
    The latest entry stays: the households the model's last build that computed any computed
    again, for the auditor. Readers are the models in audit.dbt_household_change_reads whose
    table exists (a renamed or removed model holds nothing back). Each model deletes only its
    own entries: readers built at the same time (dbt threads) never write the same rows. The
    build's change_seq is taken once, into a temporary table, whether or not it changed any
    household. Conditions on the build's temporary
    table, not on is_incremental(): a hook is rendered when it runs, and after a first build
    the table exists. A what-if run (var schema_prefix, plugins/household_monitoring/whatif.py)
    records nothing: its tables are built whole in their own schemas each time, and
    production, audit included, must stay byte-identical. -#}
{% macro household_changes_record() -%}
    {%- if var('schema_prefix', none) -%}
        select 1
    {%- else -%}
    {%- set full_build = '(select full_build from ' ~ household_changes_table('build') ~ ')' -%}
    {%- set changed = 'select household_id from ' ~ household_changes_table('changed_households') -%}
    {%- set feed = source('audit', 'dbt_household_changes') -%}
    {%- set reads = source('audit', 'dbt_household_change_reads') -%}
    delete from {{ source('audit', 'dbt_household_inputs') }}
    where
        relation = '{{ scope_relation() }}'
        and ({{ full_build }} or household_id in ({{ changed }}));
    insert into {{ source('audit', 'dbt_household_inputs') }} (relation, household_id, input_hash)
    select
        '{{ scope_relation() }}',
        household_id,
        input_hash
    from {{ household_changes_table('household_inputs') }}
    where {{ full_build }} or household_id in ({{ changed }});
    create temporary table {{ household_changes_table('change_seq') }} on commit drop as
    select nextval('audit.dbt_household_change_seq') as change_seq;
    insert into {{ feed }} (relation, change_seq, household_id)
    select
        '{{ scope_relation() }}',
        this_build.change_seq,
        changed.household_id
    from {{ household_changes_table('change_seq') }} as this_build
    cross join (
        {{ changed }} where not {{ full_build }}
        union all
        select null where {{ full_build }}
    ) as changed;
    insert into {{ reads }} (relation, upstream, read_through, input_hash)
    select
        '{{ scope_relation() }}',
        upstream,
        read_through,
        null
    from {{ household_changes_table('upstream_reads') }}
    union all
    select
        '{{ scope_relation() }}',
        '(shared inputs)',
        null,
        input_hash
    from {{ household_changes_table('shared_inputs') }}
    on conflict (relation, upstream) do update
        set read_through = excluded.read_through, input_hash = excluded.input_hash;
    delete from {{ feed }} as changes
    where
        changes.relation = '{{ scope_relation() }}'
        and changes.change_seq < (
            select max(latest.change_seq) from {{ feed }} as latest where latest.relation = changes.relation
        )
        and changes.change_seq <= coalesce(
            (
                select min(readers.read_through)
                from {{ reads }} as readers
                where readers.upstream = changes.relation and to_regclass(readers.relation) is not null
            ),
            (select change_seq from {{ household_changes_table('change_seq') }})
        )
    {%- endif -%}
{%- endmacro %}
