"""Helpers shared by test modules (importable: pytest puts ``tests/`` on the path, see conftest)."""

from __future__ import annotations

import email
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy

#: A medical settlements file as the bureau sends it: the Chinese header, and a good row for
#: settlement ``JS{n}`` (out-of-pocket 10,318.18 yuan = 31,562.40 - 15,781.20 - 3,156.24 - 2,306.78).
SETTLEMENTS_HEADER = (
    "结算单号,身份证号,姓名,医疗机构名称,入院日期,出院日期,"
    "医疗总费用,基本医保统筹支付,大病保险支付,医疗救助支付,个人自付"
)
GOOD_SETTLEMENT = (
    "JS{n},653129201902207995,亚森·艾山,伽师县人民医院,2024-05-08,2024-05-20,31562.40,15781.20,3156.24,2306.78,10318.18"
)


class SmtpInbox:
    """aiosmtpd handler keeping ``(recipients, message)`` of every email received, in order."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


#: The household register's dbt tables (tests/scenarios: rebuilt only on a register day, one extract at a time).
REGISTER_TABLES = (
    "staging.stg_household_register__members",
    "staging.stg_household_register__extract_members",
    "intermediate.int_household_members",
    "intermediate.int_household_memberships",
)


def relation_rows(conn, relation: str, volatile: tuple[str, ...]) -> list[str]:
    """Every row of ``relation`` as sorted JSON text, without the columns whose name contains a ``volatile`` mark.

    For comparing two builds row by row when batch ids and timestamps may differ.
    """
    rows = conn.execute(f"select to_jsonb(t) from {relation} as t").fetchall()
    kept = [{k: v for k, v in r[0].items() if not any(mark in k for mark in volatile)} for r in rows]
    return sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in kept)


@contextmanager
def migrated_database(server) -> Iterator:
    """A throwaway database ``hm_test_<random>`` on ``server`` with the pipeline's tables (``migrate``);
    dropped on exit."""
    from household_monitoring.database import connect, create_database, drop_database, migrate

    name = f"hm_test_{secrets.token_hex(4)}"
    db = create_database(server, name)
    try:
        with connect(db) as conn:
            migrate(conn)
        yield db
    finally:
        drop_database(server, name)
