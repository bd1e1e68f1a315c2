"""Warehouse connection and the pipeline's own tables (schemas, ledger, quality results).

``migrate`` is idempotent: it creates the ``raw``, ``quarantine`` and ``audit``
schemas, the load ledger ``audit.load_batches``, the quality results
``audit.dq_results`` and one raw and one quarantine table per contract. dbt owns
every other schema.
"""

from __future__ import annotations

import psycopg

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
]


def connect(db: Database | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg 3 connection to the warehouse (``config.warehouse()`` by default)."""
    db = db or warehouse()
    return psycopg.connect(db.url, autocommit=autocommit, application_name="household_monitoring")


def migrate(conn: psycopg.Connection, contracts: dict[str, Contract] | None = None) -> None:
    """Create the pipeline's schemas and tables if missing, in one transaction."""
    contracts = load_contracts() if contracts is None else contracts
    with conn.transaction():
        # Serialise concurrent migrations (parallel Airflow tasks on a fresh database).
        conn.execute("select pg_advisory_xact_lock(hashtext('household_monitoring.migrate'))")
        for statement in LEDGER_DDL:
            conn.execute(statement)
        for contract in contracts.values():
            for statement in contract.raw_ddl() + contract.quarantine_ddl():
                conn.execute(statement)


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
