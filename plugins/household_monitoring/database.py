"""Warehouse connection and the pipeline's own tables (schemas, ledger, quality results).

``migrate`` is idempotent: it creates the ``raw``, ``quarantine`` and ``audit``
schemas, the load ledger ``audit.load_batches``, the quality results
``audit.dq_results`` and one raw and one quarantine table per contract; then the
roles and their grants (``ROLES``, ``grant_access``). dbt fills every other schema.

Roles (shared/DESIGN.md "Identity and privacy", issue 6):

- ``hm_pipeline``: the writer. USAGE and CREATE on every schema of the pipeline,
  all DML on ``raw``, ``quarantine`` and ``audit``.
- ``analyst``: reads ``marts`` and ``reporting`` only (no personal data there).
- ``auditor``: reads ``audit`` (the ledger and quality results) and ``quarantine``,
  and, through dbt grants, the audit marts (``marts.fct_risk_warning_lineage``) and
  the data-quality reporting view; never ``raw`` and no other mart.

Roles are cluster-wide while tables are per database, and several databases of one
server may migrate at once (parallel test sessions): a role is created only when
missing, and a concurrent creation elsewhere (``duplicate_object`` /
``unique_violation``) counts as success. Passwords come from the environment
(``HM_PIPELINE_PASSWORD``, ``HM_ANALYST_PASSWORD``, ``HM_AUDITOR_PASSWORD``), never
from the repository; without one the role can log in only where the server trusts it.
Tables dbt builds later stay readable twice over: default privileges for the
migrating role, and the ``+grants`` of ``dbt_project.yml`` that dbt re-applies after
every rebuild.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

from household_monitoring.config import Database, warehouse
from household_monitoring.contracts import Contract, load_contracts

LEDGER_DDL = [
    "create schema if not exists raw",
    "create schema if not exists quarantine",
    "create schema if not exists audit",
    """create table if not exists audit.load_batches (
  batch_id bigserial primary key,
  source text not null,
  logical_date date not null,
  file_name text not null,
  file_path text not null,
  file_hash text not null,
  file_bytes bigint not null,
  encoding text,
  header text[],
  extra_columns text[],
  rows_read integer not null default 0,
  rows_loaded integer not null default 0,
  rows_quarantined integer not null default 0,
  status text not null,
  message text,
  dag_run_id text,
  superseded_by bigint references audit.load_batches (batch_id),
  started_at timestamptz not null,
  loaded_at timestamptz,
  validated_at timestamptz,
  published_at timestamptz,
  load_seconds numeric(12, 3),
  constraint load_batches_status_check check (status in
    ('loading', 'loaded', 'rejected', 'failed_validation', 'published', 'superseded')),
  constraint load_batches_rows_reconcile check (
    status = 'loading' or rows_read = rows_loaded + rows_quarantined)
)""",
    # When the department delivered the file (its modification time in the landing zone): a
    # same-day correction sent as a second file wins by delivery order, not by file name.
    "alter table audit.load_batches add column if not exists delivered_at timestamptz",
    """create index if not exists load_batches_source_date_idx
  on audit.load_batches (source, logical_date, file_name)""",
    """comment on table audit.load_batches is
  'Load ledger: one row per extract file and attempt. rows_read = rows_loaded + rows_quarantined.'""",
    """create table if not exists audit.dq_results (
  result_id bigserial primary key,
  batch_id bigint not null references audit.load_batches (batch_id),
  source text not null,
  logical_date date not null,
  suite_name text not null,
  expectation_type text not null,
  column_name text,
  blocking boolean not null,
  success boolean not null,
  observed_value text,
  unexpected_count bigint,
  element_count bigint,
  details jsonb,
  validated_at timestamptz not null
)""",
    "create index if not exists dq_results_batch_idx on audit.dq_results (batch_id)",
    # What was sent to whom (worklists.publish): one row per work list, date and channel, so a
    # re-run of a date sends nothing twice. destination is the official's address or the webhook URL.
    """create table if not exists audit.notifications_sent (
  logical_date date not null,
  official_id text not null,
  channel text not null check (channel in ('email', 'webhook')),
  destination text not null,
  items integer not null,
  content_sha256 text not null,
  reference text,
  sent_at timestamptz not null default now(),
  primary key (logical_date, official_id, channel)
)""",
    """comment on table audit.notifications_sent is
  'Work lists sent: one row per logical date, official and channel (email, webhook); re-runs skip what is here.'""",
    # dbt's bookkeeping for incremental staging (dbt_project/macros/incremental_staging.sql):
    # the published batches each staging table was last built from, so a daily run derives
    # again only the records of batches that entered or left that scope.
    """create table if not exists audit.dbt_batch_scope (
  relation text not null,
  batch_id bigint not null,
  primary key (relation, batch_id)
)""",
    """comment on table audit.dbt_batch_scope is
  'The published batches each incremental staging table (schema.table) reflects, written by its last dbt build.'""",
    # dbt's bookkeeping for the models incremental by household (dbt_project/macros/
    # incremental_by_household.sql): a content hash of each household's input rows as each such
    # model last read them, so a daily run recomputes only the households whose inputs changed.
    """create table if not exists audit.dbt_household_inputs (
  relation text not null,
  household_id text not null,
  input_hash text not null,
  primary key (relation, household_id)
)""",
    """comment on table audit.dbt_household_inputs is
  'Per model (schema.table) and household: the hash of the input rows its last dbt build read for that household.'""",
    # The change feed of the same models: each build writes the households it computed again, and each
    # reader records how far it has read, so a daily run takes the day's changed households instead of
    # hashing every household's history.
    "create sequence if not exists audit.dbt_household_change_seq",
    """create table if not exists audit.dbt_household_changes (
  relation text not null,
  change_seq bigint not null,
  household_id text
)""",
    "create index if not exists dbt_household_changes_feed on audit.dbt_household_changes (relation, change_seq)",
    """comment on table audit.dbt_household_changes is
  'Per build (change_seq) of a model incremental by household: the households it computed again; null: all.'""",
    """create table if not exists audit.dbt_household_change_reads (
  relation text not null,
  upstream text not null,
  read_through bigint,
  input_hash text,
  primary key (relation, upstream)
)""",
    """comment on table audit.dbt_household_change_reads is
  'Per model incremental by household and upstream model: the last change_seq its last build read.'""",
    # Every marts build (pipeline.build_marts), whoever ran it: the daily run, a backfill, a push, hm run.
    # started_at is taken once the build holds the warehouse's marts lock, so a build that started after
    # a batch was published contains it (a push's build is skipped when such a build already succeeded).
    """create table if not exists audit.marts_builds (
  build_id bigserial primary key,
  as_of_date date not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  status text not null default 'running' check (status in ('running', 'success', 'failed')),
  dag_run_id text,
  problem text
)""",
    "create index if not exists marts_builds_started_idx on audit.marts_builds (started_at)",
    # Set every few seconds by the build's process while it runs (pipeline.build_marts): a build
    # left 'running' whose heartbeat stopped lost its process; one whose heartbeat goes on did not.
    # (only when missing: `add column if not exists` takes an exclusive lock even then, and a
    # running build's heartbeat would wait for the whole migration)
    """do $$ begin
  if not exists (select 1 from information_schema.columns
                 where table_schema = 'audit' and table_name = 'marts_builds' and column_name = 'heartbeat_at') then
    alter table audit.marts_builds add column heartbeat_at timestamptz;
  end if;
end $$""",
    """comment on table audit.marts_builds is
  'Marts builds (dbt build as of a date): when each started (holding the marts lock) and ended, and why one failed.'""",
]


#: Schemas the pipeline itself writes (``migrate``) and those dbt builds (``dbt_project.yml``).
PIPELINE_SCHEMAS = ("raw", "quarantine", "audit")
DBT_SCHEMAS = ("staging", "intermediate", "reference", "marts", "reporting")

#: role -> (environment variable of its password, comment). All three can log in.
ROLES = {
    "hm_pipeline": ("HM_PIPELINE_PASSWORD", "Household monitoring: the pipeline (writes raw, quarantine, audit, dbt)."),
    "analyst": ("HM_ANALYST_PASSWORD", "Household monitoring: analysts and BI tools (reads marts and reporting)."),
    "auditor": ("HM_AUDITOR_PASSWORD", "Household monitoring: auditors (reads audit, quarantine and the ledger)."),
}

#: role -> schemas it may use and read every table of (dbt grants add single audit marts for the auditor).
READ_ACCESS = {
    "analyst": ("marts", "reporting"),
    "auditor": ("audit", "quarantine"),
}
#: Schemas the auditor may enter without reading every table: dbt grants name the tables.
AUDITOR_USAGE_ONLY = ("marts", "reporting")


class RolesUnavailable(RuntimeError):
    """The pipeline's roles are missing and the migrating user may not create them (no CREATEROLE)."""


def ensure_roles(conn: psycopg.Connection, roles: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """Create the roles of ``roles`` (default ``ROLES``) that do not exist yet; set passwords given in the environment.

    Race-safe across databases of one server (roles are cluster-wide): each creation
    runs in a PL/pgSQL block that treats ``duplicate_object`` and ``unique_violation``
    (another session created the role first) as success. Returns the roles that
    were missing when the call began (now created, by this call or a concurrent one).
    Raises ``RolesUnavailable`` naming the missing roles when the current user has
    neither SUPERUSER nor CREATEROLE.
    """
    roles = ROLES if roles is None else roles
    existing = {r for (r,) in conn.execute("select rolname from pg_roles where rolname = any(%s)", (list(roles),))}
    missing = [role for role in roles if role not in existing]
    created = []
    if missing:
        can_create = conn.execute(
            "select rolsuper or rolcreaterole from pg_roles where rolname = current_user"
        ).fetchone()[0]
        if not can_create:
            raise RolesUnavailable(
                f"roles {', '.join(missing)} do not exist and {conn.info.user!r} may not create them: "
                "create them once as a superuser (or grant CREATEROLE) and migrate again"
            )
        for role in missing:
            comment = roles[role][1]
            conn.execute(
                sql.SQL(
                    "do $$ begin create role {role} login; comment on role {role} is {comment}; "
                    "exception when duplicate_object or unique_violation then null; end $$"
                ).format(role=sql.Identifier(role), comment=sql.Literal(comment))
            )
            created.append(role)
    for role, (variable, _) in roles.items():
        password = os.environ.get(variable)
        if password:
            conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(password)))
    return created


def grant_access(conn: psycopg.Connection) -> None:
    """Grant each role its schemas and tables in this database, now and for tables created later.

    Creates the dbt schemas if missing so the grants can be made before dbt first
    runs. Default privileges are set for the current user (the one that runs
    migrate and, in every deployment of this repository, dbt) and, when the current
    user is a superuser, for ``hm_pipeline`` too (a pipeline that connects as it).
    """
    for schema in DBT_SCHEMAS:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    ident = sql.Identifier
    pipeline = ident("hm_pipeline")
    all_schemas = sql.SQL(", ").join(ident(s) for s in PIPELINE_SCHEMAS + DBT_SCHEMAS)
    written = sql.SQL(", ").join(ident(s) for s in PIPELINE_SCHEMAS)
    conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(all_schemas, pipeline))
    conn.execute(
        sql.SQL("grant select, insert, update, delete on all tables in schema {} to {}").format(written, pipeline)
    )
    conn.execute(sql.SQL("grant usage, select, update on all sequences in schema {} to {}").format(written, pipeline))
    for role, schemas in READ_ACCESS.items():
        listed = sql.SQL(", ").join(ident(s) for s in schemas)
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(listed, ident(role)))
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(listed, ident(role)))
    conn.execute(
        sql.SQL("grant usage on schema {} to auditor").format(sql.SQL(", ").join(ident(s) for s in AUDITOR_USAGE_ONLY))
    )
    is_super = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    owners = [conn.info.user] + (["hm_pipeline"] if is_super and conn.info.user != "hm_pipeline" else [])
    for owner in owners:
        prefix = sql.SQL("alter default privileges for role {} in schema ").format(ident(owner))
        conn.execute(
            prefix + sql.SQL("{} grant select, insert, update, delete on tables to {}").format(written, pipeline)
        )
        conn.execute(prefix + sql.SQL("{} grant usage, select, update on sequences to {}").format(written, pipeline))
        for role, schemas in READ_ACCESS.items():
            listed = sql.SQL(", ").join(ident(s) for s in schemas)
            conn.execute(prefix + sql.SQL("{} grant select on tables to {}").format(listed, ident(role)))


def connect(db: Database | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg 3 connection to the warehouse (``config.warehouse()`` by default)."""
    db = db or warehouse()
    return psycopg.connect(db.url, autocommit=autocommit, application_name="household_monitoring")


def migrate(conn: psycopg.Connection, contracts: dict[str, Contract] | None = None) -> None:
    """Create the pipeline's schemas, tables and roles if missing and grant access, in one transaction.

    Raises ``RolesUnavailable`` when the roles are missing and may not be created.
    """
    contracts = load_contracts() if contracts is None else contracts
    with conn.transaction():
        # Serialise concurrent migrations (parallel Airflow tasks on a fresh database).
        conn.execute("select pg_advisory_xact_lock(hashtext('household_monitoring.migrate'))")
        for statement in LEDGER_DDL:
            conn.execute(statement)
        for contract in contracts.values():
            for statement in contract.raw_ddl() + contract.quarantine_ddl():
                conn.execute(statement)
        ensure_roles(conn)
        grant_access(conn)


def create_database(server: Database, dbname: str) -> Database:
    """Create ``dbname`` on the server if it does not exist; return its parameters."""
    with psycopg.connect(server.with_dbname("postgres").url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'create database "{dbname}"')
    return server.with_dbname(dbname)


def drop_database(server: Database, dbname: str) -> None:
    """Drop ``dbname`` (and its open connections) if it exists."""
    with psycopg.connect(server.with_dbname("postgres").url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{dbname}" with (force)')
