"""Work list sections at the day boundaries and their texts in Chinese (default) and English."""

from __future__ import annotations

from datetime import date

import pytest

from household_monitoring.i18n import translator
from household_monitoring.worklists.lists import (
    WorkItem,
    WorkList,
    render_html,
    render_payload,
    render_text,
    section_of,
    subject,
)

DAY = date(2024, 7, 19)


@pytest.mark.parametrize(
    ("assigned_on", "due_on", "section"),
    [
        (DAY, date(2024, 7, 18), "new"),  # escalated today, although past the village due date
        (date(2024, 7, 15), DAY, "due"),  # due today: not late yet
        (date(2024, 7, 15), date(2024, 7, 18), "overdue"),  # due yesterday
        (date(2024, 7, 15), date(2024, 7, 20), "due"),
    ],
)
def test_sections_at_the_day_boundaries(assigned_on, due_on, section):
    assert section_of(assigned_on, due_on, DAY) == section


def _worklist() -> WorkList:
    item = WorkItem(
        "new",
        "W1",
        "6531291000019005",
        "653129100001",
        "巴仁镇第1村",
        "01",
        "red",
        "home_visit",
        "escalated",
        False,
        date(2024, 7, 15),
        DAY,
        date(2024, 7, 21),
    )
    vacant = WorkItem(
        "overdue",
        "W2",
        "6531291000020001",
        "653129100002",
        "巴仁镇第2村",
        "H1",
        "yellow",
        "assistance",
        "confirmed",
        True,
        date(2024, 7, 1),
        date(2024, 7, 2),
        date(2024, 7, 17),
    )
    return WorkList(
        DAY, "GB653129100", "艾尔肯·吐尔地", "township_supervisor", "653129100", "巴仁镇", None, [item, vacant]
    )


def test_texts_in_chinese_by_default_and_english_by_configuration():
    zh, en = translator("zh_CN"), translator("en")
    worklist = _worklist()
    assert subject(worklist, zh) == "2024-07-19 工作清单：新增 1 条，待办 0 条，逾期 1 条"
    assert subject(worklist, en) == "Work list 2024-07-19: 1 new, 0 due, 1 overdue"
    assert render_text(worklist, zh).splitlines() == [
        "乡镇包联干部艾尔肯·吐尔地（巴仁镇）2024年7月19日工作清单",
        "",
        "今日新增 (1)",
        "  户 6531291000019005，巴仁镇第1村：因病，红色预警；入户核实截止 2024-07-21（2024-07-15 预警；逾期上报）",
        "",
        "待办 (0)",
        "",
        "逾期 (1)",
        "  户 6531291000020001，巴仁镇第2村：住房安全问题，黄色预警；落实帮扶截止 2024-07-17（2024-07-01 预警；"
        "核实存在风险（岗位空缺））",
        "",
        "本清单仅列户编号，不含身份证号和姓名。",
    ]
    assert render_text(worklist, en).splitlines()[3] == (
        "  household 6531291000019005, 巴仁镇第1村: illness, red; home visit due on 2024-07-21 "
        "(raised on 2024-07-15; escalated)"
    )


def test_page_and_payload():
    worklist = _worklist()
    page = render_html(worklist, translator("zh_CN"))
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    assert '<section id="new" data-count="1">' in page and '<section id="due" data-count="0">' in page
    assert (
        '<tr data-warning="W1" data-household="6531291000019005" data-duty="home_visit" data-due="2024-07-21">' in page
    )
    payload = render_payload(worklist, translator("en"))
    assert payload["counts"] == {"new": 1, "due": 0, "overdue": 1}
    assert "艾尔肯·吐尔地" not in str(payload)  # the webhook carries the official's id, not the name
    assert payload["items"][1] == {
        "section": "overdue",
        "warning_id": "W2",
        "household_id": "6531291000020001",
        "village_code": "653129100002",
        "village": "巴仁镇第2村",
        "risk_factor_code": "H1",
        "risk_factor": "housing safety",
        "level": "yellow",
        "duty": "assistance",
        "assigned_because": "confirmed",
        "raised_on": "2024-07-01",
        "due_on": "2024-07-17",
    }


def test_no_work_list_while_a_source_has_never_been_published(fresh_db, contracts):
    """A county's first day with the employment file held back: the warnings would count no wages
    (a review found 1,564 red income warnings that way), so nothing goes to the officials. A source
    that sent nothing yet (no home visit before the first warning) does not stop the lists."""
    import psycopg

    from household_monitoring.database import connect
    from household_monitoring.worklists import WorklistError, collect_worklists

    def batch(conn, source: str, status: str) -> None:
        conn.execute(
            """insert into audit.load_batches (source, logical_date, file_name, file_path, file_hash, file_bytes,
                                               status, started_at)
               values (%s, %s, 'f.csv', '/l/f.csv', 'h', 1, %s, now())""",
            (source, DAY, status),
        )

    with connect(fresh_db, autocommit=True) as conn:
        for source in sorted(set(contracts) - {"verifications"}):
            batch(conn, source, "failed_validation" if source in ("employment", "education") else "published")
        with pytest.raises(WorklistError) as refused:
            collect_worklists(conn, DAY)
        assert str(refused.value).startswith(
            f"no work list sent for {DAY}: education, employment sent files up to {DAY} but none was published, "
        )
        batch(conn, "employment", "published")  # a good file later the same day
        with pytest.raises(WorklistError, match=f"no work list sent for {DAY}: education sent files"):
            collect_worklists(conn, DAY)
        batch(conn, "education", "published")
        with pytest.raises(psycopg.errors.UndefinedTable):  # past the check: on to the marts (none built here)
            collect_worklists(conn, DAY)
