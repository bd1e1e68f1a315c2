"""Benchmark: the pipeline at county (3k), large-county (100k) and province (1M) scale, and the loader.

    .venv/bin/python scripts/benchmark.py                         # every scale, every step (hours)
    .venv/bin/python scripts/benchmark.py --scales 3000 --days 3  # the county, three delta days
    .venv/bin/python scripts/benchmark.py --scales 1000000 --steps generate,history
    .venv/bin/python scripts/benchmark.py --steps loader          # loader vs raw COPY vs pandas, 1M rows
    .venv/bin/python scripts/benchmark.py --run-command           # also time `python3 dev.py run` twice

Per scale (households), in a database and folders of its own (``hm_bench_<n>_<pid>``,
``var/bench/<n>``; the database is dropped at the end unless ``--keep``; ``--database``
continues in a kept one, e.g. a new commit's delta days on the history an earlier run loaded):

1. ``generate``: the sample county with ``--history-days`` of daily extracts before the
   first delta day and ``--days`` delta days (time, files, MB);
2. ``history``: ``hm load-history`` over the history (loader and gate per file, no DAG
   run), then the first full ``dbt build`` (times, peak memory of that process);
3. ``delta``: one ``airflow dags test`` per delta day, each split into Airflow overhead,
   load, gate, dbt and report (task durations from Airflow's metadata, load and gate
   from ``audit.load_batches``), the last day against the first, the 10 slowest dbt
   nodes of the last day (``run_results.json``), the database size, peak memory.

``loader``: a clean GBK settlements file of ``--rows`` rows loaded by raw COPY into a
typed table and by the pipeline's loader (in a child process whose peak memory is
measured), alternately ``--rounds`` times, the median ratio counting; the quality
gate (Great Expectations) on round 1's batch (then the raw table's only one) and on the last
round's (one of ``--rounds`` equal batches), each in a child process of its own
(time against the loader's, peak memory; issue 10: within the loader's time, under
300 MB); then pandas ``read_csv`` + ``to_sql`` on the same file (slow: minutes).

Prints figures; asserts nothing. Targets (issue 10) are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from household_monitoring import config  # noqa: E402
from household_monitoring.sample_data.generator import D1, MEDICAL_HEADER  # noqa: E402

SCALES = {3000: "county", 100_000: "large county", 1_000_000: "province"}
STEPS = ("generate", "history", "delta", "loader")
DAG_ID = "household_monitoring_daily"


def _run_child(args: list[str], env: dict[str, str], log_path: Path) -> tuple[int, float, float]:
    """Run a child process; return (exit code, seconds, its peak resident memory in MB).

    The peak is the child's ``ru_maxrss``, which Linux starts at this process's own peak
    (carried across ``exec``): a figure at or near the floor printed at the start means
    "no more than that". This process stays small (the loader's file is made in a child).
    """
    started = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(args)}\n")
        log.flush()
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def _server() -> tuple[config.Database, bool]:
    configured = config.configured_database()
    if configured is not None:
        return configured, False
    from household_monitoring import postgres_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return postgres_server.start(), True


# ---------------------------------------------------------------- one scale


def bench_scale(households: int, args: argparse.Namespace, server: config.Database) -> None:
    from household_monitoring.database import connect, create_database, drop_database
    from household_monitoring.local_runs import airflow_environment, ensure_airflow_db

    name = args.database or f"hm_bench_{households}_{os.getpid()}"
    home = config.var_dir() / "bench" / str(households)
    landing = home / "landing"
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "bench.log"
    first_delta = args.start
    first = first_delta - timedelta(days=args.history_days)
    end = first_delta + timedelta(days=args.days - 1)
    label = SCALES.get(households, "custom")
    print(
        f"\n== {households:,} households ({label}); history {first} .. {first_delta - timedelta(days=1)}, "
        f"delta days {first_delta} .. {end}; database {name}",
        flush=True,
    )
    os.environ.update(
        {
            "HM_VAR_DIR": str(home),
            "HM_LANDING_DIR": str(landing),
            "HM_DBT_TARGET_PATH": str(home / "dbt-target"),
        }
    )
    db = create_database(server, name)
    env = {**os.environ, **airflow_environment(db), "PYTHONPATH": str(ROOT / "plugins")}
    hm = str(Path(sys.executable).with_name("hm"))
    try:
        if "generate" in args.steps:
            code, seconds, peak = _run_child(
                [
                    hm,
                    "generate",
                    "--households",
                    str(households),
                    "--start",
                    first_delta.isoformat(),
                    "--end",
                    end.isoformat(),
                    "--history-days",
                    str(args.history_days),
                    "--landing",
                    str(landing),
                ],
                env,
                log_path,
            )
            files = [p for p in landing.rglob("*") if p.is_file()]
            mb = sum(p.stat().st_size for p in files) / 1e6
            print(
                f"generate: {seconds:7.1f} s, {len(files):,} files, {mb:,.0f} MB, peak {peak:,.0f} MB, exit {code}",
                flush=True,
            )
        if "history" in args.steps and args.history_days:
            code, seconds, peak = _run_child(
                [
                    hm,
                    "load-history",
                    "--from",
                    first.isoformat(),
                    "--to",
                    (first_delta - timedelta(days=1)).isoformat(),
                    "--landing",
                    str(landing),
                    "--verbose",
                ],
                env,
                log_path,
            )
            summary = _last_line(log_path)
            print(
                f"history load + first full build: {seconds:7.1f} s, peak {peak:,.0f} MB, exit {code}\n  {summary}",
                flush=True,
            )
            _print_slowest(home / "dbt-target" / "run_results.json", "first full build")
            with connect(db) as conn:
                print(f"database size after the history: {_db_size(conn)}", flush=True)
        if "delta" in args.steps:
            ensure_airflow_db(env, log_path)
            runs = []
            for day in (first_delta + timedelta(days=i) for i in range(args.days)):
                code, seconds, peak = _run_child(
                    [str(Path(sys.executable).with_name("airflow")), "dags", "test", DAG_ID, f"{day}T00:00:00+08:00"],
                    env,
                    log_path,
                )
                with connect(db) as conn:
                    split = _split(env, conn, day, seconds)
                runs.append((day, seconds, peak, code, split))
                print(
                    f"delta day {day}: {seconds:6.1f} s (exit {code}, peak {peak:,.0f} MB): "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in split.items()),
                    flush=True,
                )
            if len(runs) > 1:
                print(f"day {len(runs)} / day 1: {runs[-1][1] / runs[0][1]:.2f}  (target <= 1.3)")
            _print_slowest(home / "dbt-target" / "run_results.json", f"delta day {runs[-1][0]}")
            with connect(db) as conn:
                print(f"database size: {_db_size(conn)}")
            target = 180 if households <= 100_000 else 600
            print(f"target: a delta day's DAG run <= {target} s at this scale")
    finally:
        if args.keep:
            print(f"kept database {name} (continue with --database {name})", flush=True)
        else:
            drop_database(server, name)


def _last_line(log_path: Path) -> str:
    lines = [
        line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if " batches, " in line
    ]
    return lines[-1] if lines else "(no summary: see " + str(log_path) + ")"


def _db_size(conn) -> str:
    return conn.execute("select pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]


def _split(env: dict[str, str], conn, day: date, wall: float) -> dict[str, float]:
    """A DAG run's wall time by phase: task durations from Airflow's metadata, load/gate from the ledger."""
    airflow_db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    durations: dict[str, float] = {}
    with sqlite3.connect(airflow_db) as meta:
        run_id = meta.execute(
            "select run_id from dag_run where dag_id = ? order by id desc limit 1", (DAG_ID,)
        ).fetchone()
        rows = meta.execute(
            "select task_id, coalesce(duration, 0) from task_instance where dag_id = ? and run_id = ?",
            (DAG_ID, run_id[0] if run_id else ""),
        ).fetchall()
    for task_id, seconds in rows:
        durations[task_id] = float(seconds or 0)
    ingest = sum(v for k, v in durations.items() if k.endswith(".ingest"))
    load, gate = conn.execute(
        """select coalesce(sum(load_seconds), 0),
                  coalesce(sum(extract(epoch from validated_at - loaded_at)), 0)
           from audit.load_batches where logical_date = %s and status <> 'superseded'""",
        (day,),
    ).fetchone()
    tasks = sum(durations.values())
    return {
        "airflow overhead": wall - tasks,
        "load": float(load),
        "gate": float(gate),
        "other ingest": max(0.0, ingest - float(load) - float(gate)),
        "dbt": durations.get("build_marts", 0.0),
        "report": durations.get("publish_report", 0.0),
        "prepare+audit": durations.get("prepare_warehouse", 0.0) + durations.get("audit_day", 0.0),
    }


def _print_slowest(path: Path, what: str) -> None:
    if not path.exists():
        print(f"  (no {path})")
        return
    results = json.loads(path.read_text(encoding="utf-8"))["results"]
    slowest = sorted(results, key=lambda r: r.get("execution_time") or 0, reverse=True)[:10]
    print(
        f"  10 slowest dbt nodes ({what}; {len(results)} nodes, "
        f"{sum(r.get('execution_time') or 0 for r in results):.0f} s in all):"
    )
    for r in slowest:
        print(f"    {r['execution_time']:8.1f} s  {r['unique_id']}")


# ---------------------------------------------------------------- loader vs raw COPY vs pandas

#: Peak resident memory of this process in MB: ``VmHWM`` of its own address space. Not
#: ``ru_maxrss``: Linux carries the parent's peak across ``exec``, so a child of a big
#: parent reported the parent's 1.7 GB (measured 2026-12-02).
PEAK_MB = "def peak_mb():\n    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024\n"

CHILD_LOADER = (
    PEAK_MB
    + r"""
import json, sys, time
from datetime import date
from pathlib import Path
from household_monitoring.config import configured_database
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect
from household_monitoring.loading import load_file
baseline = peak_mb()
contract = load_contracts()["medical_settlements"]
with connect(configured_database()) as conn:
    started = time.perf_counter()
    result = load_file(conn, contract, Path(sys.argv[1]), date.fromisoformat(sys.argv[2]))
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "loaded": result.rows_loaded, "quarantined": result.rows_quarantined,
                  "batch_id": result.batch_id, "baseline_mb": baseline, "peak_mb": peak_mb()}))
"""
)

CHILD_PANDAS = (
    PEAK_MB
    + r"""
import json, sys, time
import pandas as pd
from sqlalchemy import create_engine
from household_monitoring.config import configured_database
started = time.perf_counter()
frame = pd.read_csv(sys.argv[1], encoding="gbk", dtype=str)
engine = create_engine(configured_database().sqlalchemy_url)
frame.to_sql("pandas_copy", engine, if_exists="replace", index=False, chunksize=50_000, method="multi")
print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}))
"""
)


def make_file(path: Path, rows: int) -> Path:
    """A clean GBK settlements file of ``rows`` rows (valid IDs, balanced amounts), made once."""
    if path.exists():
        return path
    import numpy as np

    from household_monitoring.sample_data.departments import _balanced
    from household_monitoring.sample_data.generator import date_text, fen_text, write_csv
    from household_monitoring.sample_data.population import resident_ids

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rows)
    births = np.datetime64("1950-01-01") + rng.integers(0, 60 * 365, 50_000)
    people = resident_ids(births, rng.random(50_000) < 0.5)
    total = rng.lognormal(np.log(134_000), 1.0, rows).astype(np.int64) + 100
    basic, critical, assistance, oop = _balanced(rng, total)
    discharge = np.datetime64("2024-01-01") + rng.integers(0, 181, rows)
    columns = [
        np.char.add("JS", np.char.zfill(np.arange(rows).astype(str), 10)).astype(object),
        people[rng.integers(0, len(people), rows)],
        np.full(rows, "艾山·依明", dtype=object),
        np.full(rows, "伽师县人民医院", dtype=object),
        date_text(discharge - rng.integers(0, 10, rows)),
        date_text(discharge),
        *[fen_text(x).astype(object) for x in (total, basic, critical, assistance, oop)],
    ]
    return write_csv(path, MEDICAL_HEADER, columns, "gbk")


GATE_CHILD = (
    PEAK_MB
    + r"""
import json, sys, time
from household_monitoring.config import configured_database
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect
import great_expectations  # imported before the baseline: its import costs ~5 s and ~120 MB, once per task
from household_monitoring.quality import validate_batch
baseline = peak_mb()
contract = load_contracts()["medical_settlements"]
db = configured_database()
with connect(db, autocommit=True) as conn:
    started = time.perf_counter()
    gate = validate_batch(conn, db, contract, int(sys.argv[1]))
    seconds = time.perf_counter() - started
    checks = conn.execute("select count(*), count(*) filter (where success) from audit.dq_results where batch_id = %s",
                          (int(sys.argv[1]),)).fetchone()
print(json.dumps({"seconds": seconds, "status": gate.status, "expectations": checks[0], "passed": checks[1],
                  "baseline_mb": baseline, "peak_mb": peak_mb()}))
"""
)


def gate_benchmark(db, batch_id: int) -> dict:
    """The quality gate (``quality.validate_batch``) on a loaded batch, in a child process.

    Returns the child's figures: ``seconds`` (validation, store, ledger), ``status``,
    ``expectations``/``passed`` (rows in ``audit.dq_results``), ``baseline_mb`` (the
    process with Great Expectations imported) and ``peak_mb`` (peak resident memory).
    Target (issue 10): within the loader's own time, under 300 MB peak.
    """
    env = {**os.environ, "HM_DATABASE_URL": db.url, "PYTHONPATH": str(ROOT / "plugins")}
    figures = _child_json(GATE_CHILD, [str(batch_id)], env)
    if figures is None:
        raise SystemExit("the gate failed")
    return figures


def _child_json(code: str, arguments: list[str], env: dict[str, str]) -> dict | None:
    """Run ``python -c code arguments`` and return the JSON of its last line, ``None`` (reported) if it failed."""
    out = subprocess.run([sys.executable, "-c", code, *arguments], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  child failed (exit {out.returncode}): {out.stderr[-2000:]}", flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_benchmark(rows: int, rounds: int, server: config.Database, with_pandas: bool = True) -> None:
    """Raw COPY and the loader on one file, alternately ``rounds`` times; then the gate, then pandas.

    Alternating in one run gives each ratio the same machine load; the median of the
    rounds is the figure (the machine is shared: one round is noise). Each loader round
    loads the file as a new logical date into the same raw table; each COPY round
    truncates its table first. Prints as it goes.
    """
    from household_monitoring.contracts import load_contracts
    from household_monitoring.database import connect, create_database, drop_database, migrate

    path = config.var_dir() / "bench" / f"medical_settlements_{rows}.csv"
    if not path.exists():  # in a child: generating it would raise this process's peak, which children inherit
        subprocess.run(
            [sys.executable, __file__, "--make-file", str(path), "--rows", str(rows)],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
        )
    mb = path.stat().st_size / 1e6
    print(f"\n== loader: {rows:,} settlements, {mb:.0f} MB, GBK, Chinese headers; {rounds} rounds", flush=True)
    name = f"hm_bench_load_{os.getpid()}_{random.randrange(10**6)}"
    db = create_database(server, name)
    env = {**os.environ, "HM_DATABASE_URL": db.url, "PYTHONPATH": str(ROOT / "plugins")}
    ratios, loader, loader_seconds, first_gate = [], None, [], None
    try:
        contract = load_contracts()["medical_settlements"]
        columns = ", ".join(f"{c.name} {c.sql_type}" for c in contract.columns)
        with connect(db) as conn:
            migrate(conn, {"medical_settlements": contract})
            conn.execute(f"create table raw_copy ({columns})")
            conn.commit()
        for i in range(rounds):
            with connect(db) as conn:
                conn.execute("truncate raw_copy")
                conn.commit()
                started = time.perf_counter()
                statement = "copy raw_copy from stdin (format csv, header true, encoding 'GBK')"
                with conn.cursor() as cur, open(path, "rb") as fh, cur.copy(statement) as copy:
                    while block := fh.read(1 << 20):
                        copy.write(block)
                conn.commit()
                copy_seconds = time.perf_counter() - started
            child = _child_json(CHILD_LOADER, [str(path), (date(2030, 1, 1) + timedelta(days=i)).isoformat()], env)
            if child is None:
                break
            loader = child
            loader_seconds.append(child["seconds"])
            if i == 0:  # round 1's batch while it is all of the raw table: the gate reads only the batch
                first_gate = gate_benchmark(db, child["batch_id"])
            ratios.append(child["seconds"] / copy_seconds)
            print(
                f"round {i + 1} (load {os.getloadavg()[0]:.1f}): raw COPY (typed table, no checks) "
                f"{copy_seconds:6.2f} s ({rows / copy_seconds:,.0f} rows/s); loader (checks, raw + quarantine, "
                f"ledger) {child['seconds']:6.2f} s ({rows / child['seconds']:,.0f} rows/s, loaded "
                f"{child['loaded']:,}, quarantined {child['quarantined']:,}); ratio {ratios[-1]:.2f}",
                flush=True,
            )
        if ratios:
            ordered = sorted(ratios)
            print(
                f"ratio loader / raw COPY: median {ordered[len(ordered) // 2]:.2f} "
                f"(min {ordered[0]:.2f}, max {ordered[-1]:.2f}; target <= 2)",
                flush=True,
            )
            print(
                f"loader peak memory: {loader['peak_mb']:.0f} MB (process after imports: "
                f"{loader['baseline_mb']:.0f} MB, growth {loader['peak_mb'] - loader['baseline_mb']:.0f} MB)",
                flush=True,
            )
            gate = gate_benchmark(db, loader["batch_id"])
            median_loader = sorted(loader_seconds)[len(loader_seconds) // 2]
            for what, figures in (
                ("round 1's batch, alone in its raw table", first_gate),
                (f"the last round's batch, one of {len(ratios)} equal batches in the raw table", gate),
            ):
                print(
                    f"quality gate on {what} (GX, {figures['expectations']} expectations, {figures['passed']} passed, "
                    f"{figures['status']}): {figures['seconds']:6.2f} s, ratio gate / median loader "
                    f"{figures['seconds'] / median_loader:.2f} (target <= 1)",
                    flush=True,
                )
            print(
                f"gate peak memory: {gate['peak_mb']:.0f} MB (target < 300; process with GX imported: "
                f"{gate['baseline_mb']:.0f} MB, growth {gate['peak_mb'] - gate['baseline_mb']:.0f} MB)",
                flush=True,
            )
        pandas = _child_json(CHILD_PANDAS, [str(path)], env) if with_pandas else None
        if pandas is not None:
            print(
                f"pandas read_csv + to_sql: {pandas['seconds']:6.2f} s, peak {pandas['peak_mb']:.0f} MB, "
                f"ratio to the last raw COPY {pandas['seconds'] / copy_seconds:.1f}",
                flush=True,
            )
    finally:
        drop_database(server, name)


def run_command_benchmark() -> None:
    for attempt in ("first", "repeated"):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, str(ROOT / "dev.py"), "run"], capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        phases = [line for line in out.stdout.splitlines() if line.startswith("Phases:")]
        print(
            f"`python3 dev.py run` ({attempt}): {seconds:.0f} s, exit {out.returncode}; {phases[-1] if phases else ''}"
            "  (target <= 120 s repeated)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="3000,100000,1000000", help="households, comma-separated")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated among {', '.join(STEPS)}")
    parser.add_argument("--history-days", type=int, default=365, help="days of history before the delta days")
    parser.add_argument("--days", type=int, default=30, help="delta days run through the DAG (day N vs day 1)")
    parser.add_argument("--start", type=date.fromisoformat, default=D1, help="first delta day")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the loader benchmark's file")
    parser.add_argument("--rounds", type=int, default=3, help="raw COPY / loader rounds (the median ratio counts)")
    parser.add_argument(
        "--no-pandas", action="store_true", help="skip pandas to_sql (minutes; over 13 min at load average 12)"
    )
    parser.add_argument("--make-file", type=Path, help=argparse.SUPPRESS)  # the loader's file, in a child
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument(
        "--database",
        help="continue in this kept benchmark database (implies --keep; one scale): e.g. the delta days "
        "of a new commit after the history loaded by an earlier run",
    )
    parser.add_argument("--run-command", action="store_true", help="also time the README run command")
    args = parser.parse_args(argv)
    args.scales = [int(s) for s in args.scales.split(",") if s]
    args.steps = set(args.steps.split(","))
    unknown = args.steps - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s) {', '.join(sorted(unknown))}; choose among {', '.join(STEPS)}")
    if args.database:
        if len(args.scales) != 1:
            parser.error("--database continues one scale: give one --scales value")
        args.keep = True
    if args.days < 1 or args.history_days < 0:
        parser.error("--days must be at least 1 and --history-days at least 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.make_file:
        make_file(args.make_file, args.rows)
        return
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"benchmark {date.today()}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"children's peak memory figures start at this process's {floor:.0f} MB",
        flush=True,
    )
    server, private = _server()
    try:
        if args.steps & {"generate", "history", "delta"}:
            for households in args.scales:
                bench_scale(households, args, server)
        if "loader" in args.steps:
            load_benchmark(args.rows, args.rounds, server, with_pandas=not args.no_pandas)
    finally:
        if private:
            from household_monitoring import postgres_server

            postgres_server.stop()
    if args.run_command:
        run_command_benchmark()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
