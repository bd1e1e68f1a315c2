"""Role creation is race-safe: sessions in different databases of one server create the same roles at once.

Roles are cluster-wide, so the migration's per-database advisory lock does not
serialise them. The test uses roles of its own (dropped after), not the pipeline's.
"""

from __future__ import annotations

import secrets
import threading
import time

import pytest

from household_monitoring.database import RolesUnavailable, connect, create_database, drop_database, ensure_roles


@pytest.fixture
def two_databases(server):
    names = [f"hm_test_{secrets.token_hex(4)}" for _ in range(2)]
    dbs = [create_database(server, name) for name in names]
    yield dbs
    for name in names:
        drop_database(server, name)


def test_concurrent_creation_of_the_same_roles_in_two_databases(two_databases, server):
    token = secrets.token_hex(3)
    roles = {
        f"hm_test_reader_{token}": ("HM_TEST_UNSET", "test role"),
        f"hm_test_writer_{token}": ("HM_TEST_UNSET", ""),
    }
    start = threading.Barrier(4)
    outcomes: list = []

    def migrate_roles(db) -> None:
        try:
            with connect(db) as conn, conn.transaction():
                start.wait()
                missing = ensure_roles(conn, roles)
                time.sleep(0.3)  # hold the new pg_authid rows uncommitted: the other sessions wait on them
            outcomes.append(sorted(missing))
        except Exception as error:  # the assertion below shows it
            outcomes.append(error)

    threads = [threading.Thread(target=migrate_roles, args=(db,)) for db in two_databases * 2]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # All four saw the roles missing and tried to create them; none failed.
        assert outcomes == [sorted(roles)] * 4
        with connect(server, autocommit=True) as conn:
            found = conn.execute(
                "select rolname, rolcanlogin from pg_roles where rolname = any(%s) order by 1", (list(roles),)
            ).fetchall()
        assert found == [(role, True) for role in sorted(roles)]
    finally:
        with connect(server, autocommit=True) as conn:
            for role in roles:
                conn.execute(f'drop role if exists "{role}"')


def test_missing_roles_and_no_right_to_create_them_is_a_clear_error(two_databases, server):
    token = secrets.token_hex(3)
    plain = f"hm_test_plain_{token}"
    with connect(server, autocommit=True) as conn:
        conn.execute(f'create role "{plain}" login')
    try:
        with (
            connect(two_databases[0].as_user(plain)) as conn,
            pytest.raises(RolesUnavailable, match=f"roles hm_test_never_{token} do not exist and '{plain}' may not"),
        ):
            ensure_roles(conn, {f"hm_test_never_{token}": ("HM_TEST_UNSET", "")})
    finally:
        with connect(server, autocommit=True) as conn:
            conn.execute(f'drop role if exists "{plain}"')
