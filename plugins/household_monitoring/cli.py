"""``hm``: the commands a data engineer runs.

    hm run                  sample county -> Airflow DAG runs for each date -> marts, Data Docs, ledger
    hm run --landed --start D --end D   the DAG again for dates D..D on the files as they landed (a corrected file)
    hm generate             write the sample extracts into the landing zone
    hm load-history --from D --to D   load and gate every date's files, then build the marts once
    hm db start|stop|url    the private PostgreSQL (used when no server is configured)
    hm summary [--as-of D]  warnings, reconciliation and where everything is
    hm dbt-sources [--check]  regenerate (or check) the dbt sources from the contracts
    hm superset start|stop|provision|status   Apache Superset on 127.0.0.1 with the county dashboard
    hm stack start [--workers N]|status|stop   the Airflow service (scheduler, Celery workers) on 127.0.0.1
    hm stack backfill --from D --to D          backfill business days D..D, one run at a time in date order
    hm push SOURCE DATE FILE                   tell the service a department's file landed (NATS JetStream)
    hm what-if --set RULE.LEVEL=V [--from D --to D]   replay the warning rules with other thresholds, beside production
    hm i18n update|check|init LANGUAGE         the translations (gettext catalogs)

The warehouse is the server named by ``HM_DATABASE_URL`` or ``PG*`` variables;
when none is, ``hm run`` starts the private server and the last run to end stops it
(``postgres_server.lease``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

from household_monitoring import config
from household_monitoring.local_runs import (
    DAG_ID,
    AirflowProcessEnded,
    airflow_environment,
    ensure_airflow_db,
    failure_reasons,
    run_dags,
)


def _say(message: str) -> None:
    print(message, flush=True)


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


class _Database:
    """The configured warehouse, or the private server started for the duration."""

    def __enter__(self) -> config.Database:
        self.private = config.configured_database() is None
        self.stops = False
        if self.private:
            from household_monitoring import postgres_server

            self.lease = postgres_server.lease()  # one `hm db start` began stays up; two runs share it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.db = self.lease.__enter__()
            self.stops = postgres_server.stops_when_unused()
            os.environ["HM_DATABASE_URL"] = self.db.url
            _say(f"      private PostgreSQL on 127.0.0.1:{self.db.port} (data in {postgres_server.data_dir()})")
        else:
            from household_monitoring.database import create_database

            configured = config.configured_database()
            self.db = create_database(configured, configured.dbname)
            _say(f"      PostgreSQL {self.db.host}:{self.db.port}/{self.db.dbname} (from the environment)")
        return self.db

    def __exit__(self, *exc) -> None:
        if self.private:
            self.lease.__exit__(*exc)
            os.environ.pop("HM_DATABASE_URL", None)


def cmd_run(args: argparse.Namespace) -> int:
    from household_monitoring.sample_data.generator import generate_county

    timings: dict[str, float] = {}
    log_path = config.var_dir() / "logs" / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    dates = _dates(args.start, args.end)
    if not dates:
        _say(f"run: --start {args.start} is after --end {args.end}: nothing to run")
        return 2
    if args.landed:
        from household_monitoring.history import landed_dates

        landed = set(landed_dates(config.landing_dir()))
        if not landed:
            _say(
                f"run --landed: no dated folder in {config.landing_dir()} (<source>/<YYYY-MM-DD>/<file>): "
                "put the departments' files there first, or run `hm run` for the sample county"
            )
            return 2
        # A date without files still runs: batches of files no longer there are withdrawn, and the
        # day is recorded with nothing received (a holiday).
        empty = [d for d in dates if d not in landed]
        if empty:
            _say(
                f"run --landed: no files for {', '.join(map(str, empty))} in {config.landing_dir()}: those runs "
                "withdraw the batches of files no longer there and record nothing received"
            )
    _say("[1/4] Warehouse")
    started = time.perf_counter()
    database = _Database()
    with database as db:
        timings["database"] = time.perf_counter() - started

        first = args.start - timedelta(days=args.history_days)
        if args.landed:
            _say(f"[2/4] Extracts: the files in {config.landing_dir()} as they are (--landed: no sample written)")
        else:
            _say(f"[2/4] Sample extracts: {args.households} households, {first} .. {args.end}")
        started = time.perf_counter()
        county = (
            None
            if args.landed
            else generate_county(
                config.landing_dir(),
                households=args.households,
                start=args.start,
                end=args.end,
                seed=args.seed,
                history_start=first,
            )
        )
        if county is not None:
            n_files = sum(len(v) for v in county.files.values())
            timings["generate"] = time.perf_counter() - started
            _say(f"      {n_files} files in {config.landing_dir()} ({timings['generate']:.1f} s)")
            _say(f"      scenarios: {county.scenario_dates.describe()}")
        if args.history_days:
            from household_monitoring.history import load_history

            started = time.perf_counter()
            loaded = load_history(db, first, args.start - timedelta(days=1), build=False)
            timings["history"] = time.perf_counter() - started
            _say(
                f"      history {first} .. {args.start - timedelta(days=1)}: {loaded.batches} batches, "
                f"{loaded.rows_read} rows, loaded and gated without DAG runs ({timings['history']:.0f} s)"
            )

        _say(f"[3/4] Airflow: {len(dates)} DAG run(s) of {DAG_ID} (log: {log_path})")
        env = airflow_environment(db)
        started = time.perf_counter()
        ensure_airflow_db(env, log_path)
        failed = []
        t0 = time.perf_counter()
        try:
            for i, run in enumerate(run_dags(dates, env, log_path), start=1):
                state = "ok" if run.code == 0 else "FAILED"
                _say(f"      [{i}/{len(dates)}] {run.day} {state} ({time.perf_counter() - t0:.0f} s)")
                t0 = time.perf_counter()
                if run.code != 0:
                    failed.append(run.day)
                    for task_id, problem in failure_reasons(log_path, run.log_start, run.log_end):
                        _say(f"          {task_id}: {problem}")
        except AirflowProcessEnded as ended:
            _say(f"      {ended}")
            return 1
        timings["airflow"] = time.perf_counter() - started

        _say("[4/4] Summary")
        _print_summary(db, dates[-1], private=database.stops)
    total = sum(timings.values())
    _say("\nPhases: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) + f"; total {total:.1f} s")
    if failed:
        _say(f"DAG runs failed for {', '.join(map(str, failed))}: see {log_path} and audit.load_batches")
        return 1
    return 0


def _print_summary(db: config.Database, as_of: date, *, private: bool) -> None:
    from household_monitoring.database import connect
    from household_monitoring.quality import data_docs_index

    with connect(db) as conn:
        ledger = conn.execute(
            """select source, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined),
                      count(*) filter (where status <> 'published')
               from audit.load_batches where status <> 'superseded'
               group by source order by source"""
        ).fetchall()
        warnings_ = conn.execute(
            """select risk_factor, warning_level, status, count(*)
               from marts.fct_risk_warnings group by 1, 2, 3 order by 1, 2 desc, 3"""
        ).fetchall()
        households = conn.execute(
            "select count(*), count(*) filter (where open_warnings > 0) from marts.mart_household_risk"
        ).fetchone()
        income = conn.execute(
            """select count(*), count(*) filter (where is_at_or_above_monitoring_line),
                      percentile_cont(0.5) within group (order by per_capita_net_income)
               from marts.mart_household_income
               where as_of_date = (select max(as_of_date) from marts.mart_household_income)"""
        ).fetchone()
    _say("  Load ledger (audit.load_batches), rows read = loaded + quarantined:")
    _say(f"    {'source':<22}{'files':>6}{'read':>10}{'loaded':>10}{'quarant.':>10}{'held back':>10}")
    for source, files, read, loaded, quarantined, held in ledger:
        _say(f"    {source:<22}{files:>6}{read:>10}{loaded:>10}{quarantined:>10}{held:>10}")
    _say(f"  Warnings as of {as_of} (marts.fct_risk_warnings):")
    for factor, level, status, count in warnings_:
        _say(f"    {factor:<20}{level:<8}{status:<24}{count:>6}")
    _say(f"  Households monitored: {households[0]}, with an open warning: {households[1]}")
    if income[0]:
        _say(
            f"  Income (marts.mart_household_income): {income[1]} of {income[0]} households at or above the "
            f"monitoring line; median per-capita net income {income[2]:,.2f} yuan"
        )
    _say("  Where to look:")
    _say(f"    marts       psql {db.url}  (schemas marts, reporting, staging, reference)")
    _say("                e.g. select * from marts.fct_risk_warnings where status = 'awaiting_verification';")
    _say("    ledger      select * from audit.load_batches;  quarantine.<source>;  audit.dq_results")
    _say(f"    Data Docs   {data_docs_index()}")
    _say(f"    report      {config.reports_dir() / as_of.isoformat() / 'index.html'}  (dbt docs linked from it)")
    _say(
        f"    work lists  {config.reports_dir() / 'worklists' / as_of.isoformat() / 'index.html'}  (one page per "
        "official; sent by email / webhook when HM_SMTP_HOST / HM_WORKLIST_WEBHOOK_URL are set)"
    )
    _say("    roles       analyst (marts, reporting), auditor (audit, quarantine, lineage), hm_pipeline (writer)")
    if private:
        _say("    (the private server stops when the last `hm run` using it ends; `.venv/bin/hm db start` restarts it)")


def cmd_generate(args: argparse.Namespace) -> int:
    from household_monitoring.sample_data.generator import generate_county

    started = time.perf_counter()
    county = generate_county(
        args.landing,
        households=args.households,
        start=args.start,
        end=args.end,
        seed=args.seed,
        history_start=args.start - timedelta(days=args.history_days),
    )
    for source, files in county.files.items():
        size = sum(p.stat().st_size for p in files)
        _say(f"{source}: {len(files)} file(s), {size / 1e6:.1f} MB, {files[0].parent.name} .. {files[-1].parent.name}")
    _say(
        f"{county.households} households, {county.population.persons} persons in {args.landing} "
        f"({time.perf_counter() - started:.1f} s); scenarios: {county.scenario_dates.describe()}"
    )
    return 0


def cmd_load_history(args: argparse.Namespace) -> int:
    from household_monitoring.dbt import DbtFailed
    from household_monitoring.history import landed_dates, load_history

    landing = args.landing
    dates = landed_dates(landing)
    start = args.start or (dates[0] if dates else None)
    end = args.to or (dates[-1] if dates else None)
    if start is None or end is None:
        _say(f"load-history: no dated folder under {landing}")
        return 2
    db = _warehouse_or_private()

    def progress(day: date, seconds: float) -> None:
        if args.verbose:
            _say(f"  {day} {seconds:.1f} s")

    try:
        loaded = load_history(db, start, end, landing=landing, build=not args.no_build, progress=progress)
    except DbtFailed as exc:
        _say(f"load-history: dbt failed: {exc}")
        return 1
    except ValueError as exc:
        _say(f"load-history: {exc}")
        return 2
    _say(
        f"{start} .. {end}: {loaded.batches} batches, rows read {loaded.rows_read}, loaded {loaded.rows_loaded}, "
        f"quarantined {loaded.rows_quarantined}; "
        + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in loaded.seconds.items())
    )
    for held in loaded.held_back:
        _say(f"  held back: {held}")
    return 1 if loaded.held_back else 0


def cmd_db(args: argparse.Namespace) -> int:
    from household_monitoring import postgres_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.action == "start":
            db = postgres_server.start()
            _say(db.url)
        elif args.action == "stop":
            _say(f"stopped (data kept in {postgres_server.data_dir()})" if postgres_server.stop() else "not running")
        else:
            _say(postgres_server.database().url if postgres_server.is_running() else "not running")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    import psycopg

    from household_monitoring.database import connect

    db = config.warehouse()
    try:
        with connect(db) as conn:
            built = conn.execute("select to_regclass('marts.mart_household_risk')").fetchone()[0] is not None
    except psycopg.OperationalError as exc:
        _say(f"summary: cannot read the warehouse {db.host}:{db.port}/{db.dbname}: {str(exc).strip()}")
        return 2
    if not built:
        _say(
            f"summary: no marts in {db.host}:{db.port}/{db.dbname} yet: build them with `hm load-history` "
            "(without --no-build) or `hm run`"
        )
        return 2
    _print_summary(db, args.as_of or date.today(), private=config.configured_database() is None)
    return 0


def cmd_dbt_sources(args: argparse.Namespace) -> int:
    from household_monitoring.contracts import load_contracts
    from household_monitoring.dbt import generated_files, write_sources

    contracts = load_contracts()
    if args.check:
        stale = [
            str(path)
            for path, text in generated_files(contracts).items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        if stale:
            _say("stale dbt sources (run `hm dbt-sources`): " + ", ".join(stale))
            return 1
        return 0
    for path in write_sources(contracts):
        _say(f"wrote {path}")
    return 0


def _warehouse_or_private() -> config.Database:
    """The configured warehouse (its database created when missing, as ``hm run`` does), else the
    private PostgreSQL (started if needed, left running)."""
    db = config.configured_database()
    if db is not None:
        from household_monitoring.database import create_database

        return create_database(db, db.dbname)
    from household_monitoring import postgres_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        db = postgres_server.start()
    _say(f"private PostgreSQL on 127.0.0.1:{db.port} (stop it with `.venv/bin/hm db stop`)")
    return db


def cmd_what_if(args: argparse.Namespace) -> int:
    from household_monitoring.dbt import DbtFailed
    from household_monitoring.pipeline import id_salt
    from household_monitoring.whatif import (
        ThresholdChange,
        WhatIfError,
        drop_what_if,
        production_as_of,
        run_what_if,
    )

    db = _warehouse_or_private()
    try:
        if args.drop:
            _say("dropped: " + (", ".join(drop_what_if(db, args.name)) or "nothing"))
            return 0
        changes = [ThresholdChange.parse(text) for text in args.set or []]
        end = args.to or production_as_of(db)
        start = args.start or end - timedelta(days=364)  # the year ending on `end`
        report = run_what_if(db, changes, start, end, name=args.name, salt=id_salt())
    except WhatIfError as exc:
        _say(f"what-if: {exc}")
        return 2
    except DbtFailed as exc:
        _say(f"what-if: dbt failed: {exc}")
        return 1
    _say(
        f"What-if {report.name}: {', '.join(args.set)}; warnings reaching a level {report.start} .. {report.end}, "
        f"data as of {report.as_of}"
    )
    _say(report.render())
    _say(f"Changed warnings: {report.report_dir / 'changes.csv'}; marts of the what-if: schema {report.schema}")
    return 0


def _reporting_views_missing(db: config.Database) -> list[str]:
    from household_monitoring.database import connect

    wanted = [
        "reporting.warnings_by_village_factor",
        "reporting.households_below_line",
        "reporting.time_to_verification",
        "reporting.data_quality_scorecard",
    ]
    with connect(db) as conn:
        return [name for name in wanted if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is None]


def cmd_superset(args: argparse.Namespace) -> int:
    """``hm superset``: start (install, initialise, provision, run), stop, provision again, status."""
    from household_monitoring import superset

    instance = superset.Instance.default()
    try:
        if args.action == "stop":
            _say("Superset stopped" if instance.stop() else "Superset was not running")
            return 0
        if args.action == "status":
            _say(f"Superset running at {instance.url()}" if instance.healthy() else "Superset is not running")
            return 0
        db = _warehouse_or_private()
        import psycopg

        try:
            missing = _reporting_views_missing(db)
        except psycopg.Error as exc:
            _say(f"error: cannot read the warehouse {db.host}:{db.port}/{db.dbname}: {exc}".rstrip())
            _say("       run `python3 dev.py run` first, or name the warehouse with HM_DATABASE_URL / PG* variables")
            return 1
        if missing:
            _say(f"note: {', '.join(missing)} missing in {db.dbname}: run `python3 dev.py run` first")
        path = instance.provision(db)
        _say(f"provisioned: connection as {superset.ANALYST_ROLE}, datasets, charts, dashboard")
        if args.action == "start":
            url = instance.start(args.port)
            _say(f"Superset: {url}{path}")
            where = (
                "HM_SUPERSET_ADMIN_PASSWORD"
                if os.environ.get("HM_SUPERSET_ADMIN_PASSWORD")
                else instance.home / "admin_password"
            )
            _say(f"  login {superset.ADMIN_USER} / password in {where}")
            _say(f"  log {instance.log_path}; stop with `python3 dev.py superset stop`")
    except superset.SupersetError as exc:
        _say(f"error: {exc}")
        return 1
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    """``hm stack``: start, status, stop the Airflow service; backfill a range of business days."""
    from household_monitoring.service.stack import Stack, StackError, backfill_dates

    stack = Stack()
    try:
        if args.action == "stop":
            stopped = stack.stop()
            _say(f"stopped: {', '.join(stopped)}" if stopped else "the stack was not running")
            return 0
        if args.action == "status":
            status = stack.status()
            if not status["processes"]:
                _say("no stack started (`hm stack start`)")
                return 1
            _say(f"Airflow {status['url']} ({status['executor']}, {status['workers']} Celery worker(s))")
            for name, state in status["processes"].items():
                _say(f"  {name:<14}{state}")
            health = status["health"] or {}
            _say("  health: " + (", ".join(f"{k} {v.get('status')}" for k, v in health.items()) or "no answer"))
            return 0 if status["health"] else 1
        if args.action == "backfill":
            if not (args.start and args.end):
                _say("hm stack backfill needs --from and --to (business days, YYYY-MM-DD)")
                return 2
            start, end = backfill_dates(args.start, args.end)
            result = stack.airflow(
                [
                    *("backfill", "create", "--dag-id", DAG_ID, "--from-date", start, "--to-date", end),
                    *("--max-active-runs", "1", "--reprocess-behavior", "completed"),
                ]
            )
            _say((result.stdout + result.stderr).strip()[-2000:])
            return result.returncode
        from household_monitoring.pipeline import prepare_warehouse

        db = _warehouse_or_private()
        prepare_warehouse(db)
        _say(f"warehouse {db.host}:{db.port}/{db.dbname}; starting Airflow in {stack.home} (about a minute)")
        state = stack.start(workers=args.workers, executor=args.executor, port=args.port, warehouse=db, say=_say)
        _say(f"Airflow UI: {state.url}  (user admin, password: {stack.admin_password()})")
        _say(f"  executor {state.executor}" + (f", {state.workers} Celery worker(s)" if state.workers else ""))
        _say(f"  logs {stack.logs}; `hm stack status`, `hm stack stop`")
        _say("  backfill: `hm stack backfill --from 2024-07-15 --to 2024-07-17`")
    except StackError as exc:
        _say(f"error: {exc}")
        return 1
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """``hm push``: publish a department's push (the file must already be in the landing zone)."""
    from household_monitoring.service.push import Push, nats_settings, publish

    path = config.landing_dir() / args.source / args.date.isoformat() / args.file
    if not path.is_file():
        _say(f"error: {path} is not in the landing zone: copy the file there first")
        return 2
    try:
        publish([Push(args.source, args.date, args.file)])
    except Exception as exc:
        _say(f"error: the push was not accepted by NATS {nats_settings()[0]}: {type(exc).__name__}: {exc}")
        return 1
    _say(f"pushed {args.source} {args.date} {args.file}: the service loads it and rebuilds the marts")
    return 0


def cmd_i18n(args: argparse.Namespace) -> int:
    from household_monitoring import i18n

    return i18n.main(args.action)


def main(argv: list[str] | None = None) -> int:
    from household_monitoring.sample_data.generator import DEFAULT_END, DEFAULT_START

    parser = argparse.ArgumentParser(prog="hm", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def sample_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--households", type=int, default=3000, help="random households (default 3000)")
        p.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first logical date")
        p.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="last logical date")
        p.add_argument("--seed", type=int, default=653129, help="random seed of the sample county")
        p.add_argument(
            "--history-days",
            type=int,
            default=0,
            help="daily extracts for this many days before --start (run: loaded without DAG runs)",
        )

    p = sub.add_parser(
        "run",
        help="generate the sample county and run the DAG for each date (--landed: on the files already landed)",
        description="e.g. hm run (the sample county, 2024-07-15 .. 17); after a corrected file was put in the "
        "landing folder: hm run --landed --start 2024-07-16 --end 2024-07-16 (that date again, then the later ones "
        "with --end)",
    )
    sample_options(p)
    p.add_argument(
        "--landed",
        action="store_true",
        help="run the DAG on the files already in the landing folder, as they are (a corrected file put in, a date "
        "re-run): no sample is written; --households and --seed are not used",
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("generate", help="write the sample extracts")
    sample_options(p)
    p.add_argument(
        "--landing", type=Path, default=config.landing_dir(), help="<source>/<date>/ go here (default: %(default)s)"
    )
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser(
        "load-history",
        help="load and gate every date's files without DAG runs, then build the marts once",
        description="e.g. hm load-history --from 2023-07-15 --to 2024-07-14 (default: every dated folder)",
    )
    p.add_argument("--from", dest="start", type=date.fromisoformat, help="first date (default: the earliest landed)")
    p.add_argument("--to", type=date.fromisoformat, help="last date (default: the latest landed)")
    p.add_argument(
        "--landing", type=Path, default=config.landing_dir(), help="the <source>/<date>/ folders (default: %(default)s)"
    )
    p.add_argument("--no-build", action="store_true", help="load and gate only; the next DAG run builds the marts")
    p.add_argument("--verbose", action="store_true", help="print each date's time")
    p.set_defaults(func=cmd_load_history)
    p = sub.add_parser("db", help="the private PostgreSQL")
    p.add_argument("action", choices=["start", "stop", "url"])
    p.set_defaults(func=cmd_db)
    p = sub.add_parser("summary", help="warnings and the ledger")
    p.add_argument("--as-of", type=date.fromisoformat)
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("dbt-sources", help="regenerate the dbt sources from the contracts")
    p.add_argument("--check", action="store_true", help="only check that they are up to date")
    p.set_defaults(func=cmd_dbt_sources)
    p = sub.add_parser(
        "what-if",
        help="replay the warning rules with changed thresholds, beside production",
        description="e.g. hm what-if --set ILLNESS_OOP.red=2500 --from 2023-07-18 --to 2024-07-17",
    )
    p.add_argument("--set", action="append", metavar="RULE.LEVEL=VALUE", help="a changed threshold (repeatable)")
    p.add_argument("--from", dest="start", type=date.fromisoformat, help="first date (default: the year up to --to)")
    p.add_argument("--to", type=date.fromisoformat, help="last date (default: the production marts' as-of date)")
    p.add_argument("--name", default="scenario", help="names the schemas whatif_<name>_* (default scenario)")
    p.add_argument("--drop", action="store_true", help="drop the schemas of what-if --name instead")
    p.set_defaults(func=cmd_what_if)
    p = sub.add_parser("superset", help="Apache Superset with the county dashboard, on 127.0.0.1")
    p.add_argument("action", nargs="?", default="start", choices=["start", "stop", "provision", "status"])
    p.add_argument("--port", type=int, help="port to listen on (default HM_SUPERSET_PORT or 8088)")
    p.set_defaults(func=cmd_superset)
    p = sub.add_parser("stack", help="the Airflow service on this machine (scheduler, Celery workers)")
    p.add_argument("action", choices=["start", "status", "stop", "backfill"])
    p.add_argument("--workers", type=int, default=1, help="Celery workers (default 1; 0: LocalExecutor)")
    p.add_argument("--executor", choices=["auto", "celery", "local"], default="auto")
    p.add_argument("--port", type=int, help="api-server port on 127.0.0.1 (default HM_AIRFLOW_PORT or 8080)")
    p.add_argument("--from", dest="start", type=date.fromisoformat, help="backfill: first business day")
    p.add_argument("--to", dest="end", type=date.fromisoformat, help="backfill: last business day")
    p.set_defaults(func=cmd_stack)
    p = sub.add_parser("push", help="tell the service a department's file landed (NATS JetStream)")
    p.add_argument("source")
    p.add_argument("date", type=date.fromisoformat)
    p.add_argument("file", help="file name in <landing>/<source>/<date>/")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("i18n", help="the translations: update the catalogs from the sources, check them")
    p.add_argument("action", nargs="+", metavar="update | check | init LANGUAGE")
    p.set_defaults(func=cmd_i18n)
    args = parser.parse_args(argv)
    # A stop (SIGTERM, e.g. from a supervisor) or a closed terminal (SIGHUP) unwinds like Ctrl-C, so
    # what was started (the private PostgreSQL, an Airflow run) is stopped on the way out.
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _say("\ninterrupted: stopped what this command had started (and the private PostgreSQL, unless in use)")
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
