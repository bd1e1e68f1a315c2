"""The private PostgreSQL under leases: two `hm run`s share it, the last to finish stops it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from household_monitoring import postgres_server


@pytest.fixture
def private_dir(monkeypatch):
    # Outside pytest's temporary root: as root the server runs as another OS user (see conftest).
    folder = Path(tempfile.mkdtemp(prefix="hm-lease-postgres-"))
    monkeypatch.setenv("HM_POSTGRES_DIR", str(folder))
    warnings.simplefilter("ignore")
    try:
        yield folder
    finally:
        postgres_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _hold_lease(pid: int) -> None:
    """Record a lease for another live process, as a second `hm run` would."""
    leases = postgres_server._leases()
    leases.mkdir(exist_ok=True)
    (leases / f"{pid}-other").write_text(postgres_server._process_start(pid))


def test_the_last_lease_stops_the_server_a_lease_started(private_dir):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with postgres_server.lease() as db:
            assert postgres_server.is_running() and postgres_server.stops_when_unused()
            assert db.port == postgres_server.database().port
            _hold_lease(other.pid)
        assert postgres_server.is_running()  # the other run still uses it
        other.kill()
        other.wait()
        with postgres_server.lease():  # the killed run's lease does not keep the server up
            assert postgres_server.is_running()
        assert not postgres_server.is_running()
        assert not list(postgres_server._leases().iterdir())
    finally:
        other.kill()


def test_nested_leases_of_one_process_keep_the_server_up_until_the_outer_ends(private_dir):
    with postgres_server.lease():
        with postgres_server.lease():
            pass
        assert postgres_server.is_running()
    assert not postgres_server.is_running()


def test_a_server_started_by_hand_outlives_the_leases(private_dir):
    postgres_server.start()  # `hm db start`
    with postgres_server.lease():
        assert not postgres_server.stops_when_unused()
    assert postgres_server.is_running()
    with postgres_server.lease():
        postgres_server.start()  # another command that leaves it running, during a run
    assert postgres_server.is_running()


def test_a_lease_of_a_dead_process_with_a_reused_pid_is_not_live(private_dir):
    with postgres_server.lease():
        (postgres_server._leases() / "1-x").write_text("0")  # pid 1 lives, but did not start at tick 0
        (postgres_server._leases() / "junk").write_text("?")
    assert not postgres_server.is_running()
    assert not list(postgres_server._leases().iterdir())
