"""Benchmark: the loader against a raw COPY of the same file, and the README run command's phases.

    .venv/bin/python scripts/benchmark.py                 # 1,000,000 settlements (default)
    .venv/bin/python scripts/benchmark.py --rows 200000
    .venv/bin/python scripts/benchmark.py --run-command   # also time `python3 dev.py run` twice

Load benchmark: a clean GBK settlements file of N rows (Chinese headers, as the
medical security bureau sends it) is loaded twice into a fresh database on the
configured server (or the private one):

1. raw COPY: ``COPY ... FROM STDIN (FORMAT csv, HEADER, ENCODING 'GBK')`` into a
   table with the contract's typed columns, no checks, no quarantine, no ledger;
2. the pipeline's loader (decode, check every cell and row rule, split into raw and
   quarantine, ledger), in a child process whose peak resident memory is measured.

It prints rows per second, the ratio loader / raw COPY and the peak memory
(also the child's memory right after its imports, so growth with the file shows).
Targets (issue 2): ratio <= 2, peak memory flat in N and < 150 MB for 1M rows.
3. the quality gate (Great Expectations) on the batch the loader wrote, in another
   child process: time against the loader's, and its peak memory (issue 10: within the
   loader's time, under 300 MB).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import secrets
import subprocess
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from household_monitoring import config  # noqa: E402
from household_monitoring.sample_data.generator import MEDICAL_HEADER, _Ids, _settlement  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from datetime import date
from pathlib import Path
from household_monitoring.config import configured_database
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect
from household_monitoring.loading import load_file
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
contract = load_contracts()["medical_settlements"]
with connect(configured_database()) as conn:
    started = time.perf_counter()
    result = load_file(conn, contract, Path(sys.argv[1]), date(2030, 1, 1))
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "loaded": result.rows_loaded, "quarantined": result.rows_quarantined,
                  "batch_id": result.batch_id, "baseline_mb": baseline,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_file(path: Path, rows: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(rows)
    ids = _Ids(rng)
    people = [
        ids.new(date(1950 + rng.randint(0, 60), rng.randint(1, 12), rng.randint(1, 28)), "男") for _ in range(50000)
    ]
    with open(path, "w", encoding="gbk", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(MEDICAL_HEADER)
        for i in range(rows):
            a = _settlement(rng)
            discharge = date(2024, 1, 1) + timedelta(days=rng.randint(0, 180))
            writer.writerow(
                [
                    f"JS{i:010d}",
                    rng.choice(people),
                    "艾山·依明",
                    "伽师县人民医院",
                    (discharge - timedelta(days=rng.randint(0, 9))).isoformat(),
                    discharge.isoformat(),
                    a["total_cost"],
                    a["basic_insurance"],
                    a["critical_illness_insurance"],
                    a["medical_assistance"],
                    a["out_of_pocket"],
                ]
            )
    return path


GATE_CHILD = r"""
import json, resource, sys, time
from household_monitoring.config import configured_database
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect
import great_expectations  # imported before the baseline: its import costs ~5 s and ~120 MB, once per task
from household_monitoring.quality import validate_batch
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
contract = load_contracts()["medical_settlements"]
db = configured_database()
with connect(db, autocommit=True) as conn:
    started = time.perf_counter()
    gate = validate_batch(conn, db, contract, int(sys.argv[1]))
    seconds = time.perf_counter() - started
    checks = conn.execute("select count(*), count(*) filter (where success) from audit.dq_results where batch_id = %s",
                          (int(sys.argv[1]),)).fetchone()
print(json.dumps({"seconds": seconds, "status": gate.status, "expectations": checks[0], "passed": checks[1],
                  "baseline_mb": baseline, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def gate_benchmark(db, batch_id: int) -> dict:
    """The quality gate (``quality.validate_batch``) on a loaded batch, in a child process.

    Returns the child's figures: ``seconds`` (validation, store, ledger), ``status``,
    ``expectations``/``passed`` (rows in ``audit.dq_results``), ``baseline_mb`` (the
    process with Great Expectations imported) and ``peak_mb`` (peak resident memory).
    Target (issue 10): within the loader's own time, under 300 MB peak.
    """
    env = {**os.environ, "HM_DATABASE_URL": db.url, "PYTHONPATH": str(ROOT / "plugins")}
    out = subprocess.run([sys.executable, "-c", GATE_CHILD, str(batch_id)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_benchmark(rows: int) -> None:
    from household_monitoring.contracts import load_contracts
    from household_monitoring.database import connect, create_database, drop_database, migrate

    path = make_file(config.var_dir() / "bench" / f"medical_settlements_{rows}.csv", rows)
    configured = config.configured_database()
    private = configured is None
    if private:
        from household_monitoring import postgres_server

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            configured = postgres_server.start()
    name = f"hm_bench_{secrets.token_hex(4)}"  # never a name another run could be using
    db = create_database(configured, name)
    try:
        contract = load_contracts()["medical_settlements"]
        columns = ", ".join(f"{c.name} {c.sql_type}" for c in contract.columns)
        with connect(db) as conn:
            migrate(conn, {"medical_settlements": contract})
            conn.execute(f"create table raw_copy ({columns})")
            conn.commit()
            started = time.perf_counter()
            statement = "copy raw_copy from stdin (format csv, header true, encoding 'GBK')"
            with conn.cursor() as cur, open(path, "rb") as fh, cur.copy(statement) as copy:
                while block := fh.read(1 << 20):
                    copy.write(block)
            conn.commit()
            copy_seconds = time.perf_counter() - started
        env = {**os.environ, "HM_DATABASE_URL": db.url, "PYTHONPATH": str(ROOT / "plugins")}
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        child = json.loads(out.stdout.strip().splitlines()[-1])
        gate = gate_benchmark(db, child["batch_id"])
    finally:
        drop_database(configured, name)
        if private:
            postgres_server.stop()
    mb = path.stat().st_size / 1e6
    print(f"file: {rows:,} settlements, {mb:.0f} MB, GBK, Chinese headers")
    print(f"raw COPY (typed table, no checks): {copy_seconds:6.2f} s  {rows / copy_seconds:>10,.0f} rows/s")
    loader = child["seconds"]
    print(
        f"loader (checks, raw + quarantine, ledger): {loader:6.2f} s  {rows / loader:>10,.0f} rows/s"
        f"  loaded {child['loaded']:,}, quarantined {child['quarantined']:,}"
    )
    print(f"ratio loader / raw COPY: {child['seconds'] / copy_seconds:.2f}  (target <= 2)")
    print(
        f"loader peak memory: {child['peak_mb']:.0f} MB (process after imports: {child['baseline_mb']:.0f} MB, "
        f"growth {child['peak_mb'] - child['baseline_mb']:.0f} MB)"
    )
    print(
        f"quality gate (GX, {gate['expectations']} expectations, {gate['passed']} passed, {gate['status']}): "
        f"{gate['seconds']:6.2f} s, ratio gate / loader {gate['seconds'] / loader:.2f} (target <= 1)"
    )
    print(
        f"gate peak memory: {gate['peak_mb']:.0f} MB (target < 300; process with GX imported: "
        f"{gate['baseline_mb']:.0f} MB, growth {gate['peak_mb'] - gate['baseline_mb']:.0f} MB)"
    )


def run_command_benchmark() -> None:
    for attempt in ("first", "repeated"):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, str(ROOT / "dev.py"), "run"], capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        phases = [line for line in out.stdout.splitlines() if line.startswith("Phases:")]
        print(
            f"`python3 dev.py run` ({attempt}): {seconds:.0f} s, exit {out.returncode}; {phases[-1] if phases else ''}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--run-command", action="store_true", help="also time the README run command")
    args = parser.parse_args()
    load_benchmark(args.rows)
    if args.run_command:
        run_command_benchmark()


if __name__ == "__main__":
    main()
