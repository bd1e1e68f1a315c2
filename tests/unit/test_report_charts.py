"""The county daily report's 30-day trend chart: its axes as the reader sees them in the SVG (issue 13).

Before: a trend of two or three days had a tick every few hours, each labelled with its date (the same date
repeated), and the y axis ended just above the highest point (no open warning at all: from 0 to 0.05 with
fractional ticks). No database, no browser: ``report.render_charts`` on given figures.
"""

import re
from datetime import date, timedelta

import pytest

from household_monitoring import report
from household_monitoring.i18n import translator

FIRST = date(2024, 7, 15)


def _axis_labels(values: list[int]) -> tuple[list[str], list[str]]:
    """(x labels, y labels) of the trend chart of ``values`` on consecutive days from FIRST, in drawing order."""
    trend = [(FIRST + timedelta(days=i), v) for i, v in enumerate(values)]
    figures = report.Figures(as_of_date=trend[-1][0], trend=trend, first_data_day=FIRST)
    svg = report.render_charts(figures, translator("en"))["trend"]
    labels = {"xtick": [], "ytick": []}
    # each tick is <g id="xtick_N"> (or ytick_N) holding its mark and then its one <text>
    for axis, text in re.findall(r'<g id="([xy]tick)_\d+">.*?<text\b[^>]*>(.*?)</text>', svg, flags=re.S):
        labels[axis].append(text.strip())
    return labels["xtick"], labels["ytick"]


@pytest.mark.parametrize(
    ("values", "x_labels", "y_labels"),
    [
        # three days, no open warning: each day once; a 0-1 axis, not 0-0.05
        ([0, 0, 0], ["2024-07-15", "2024-07-16", "2024-07-17"], ["0", "1"]),
        # two days: each day once (was: 2024-07-15 six times, hourly ticks); the axis goes past the 5 to 6
        ([3, 5], ["2024-07-15", "2024-07-16"], ["0", "1", "2", "3", "4", "5", "6"]),
        # one day
        ([2], ["2024-07-15"], ["0", "1", "2", "3"]),
        # eight days: every day; 23 is the highest point, the axis ends on the labelled 30 above it
        (
            [2, 5, 8, 11, 14, 17, 20, 23],
            [f"2024-07-{d}" for d in range(15, 23)],
            ["0", "5", "10", "15", "20", "25", "30"],
        ),
        # thirty days: every 4th day counted back from the last (the as-of date, always labelled)
        (
            [3 * i + 2 for i in range(30)],
            [
                "2024-07-16",
                "2024-07-20",
                "2024-07-24",
                "2024-07-28",
                "2024-08-01",
                "2024-08-05",
                "2024-08-09",
                "2024-08-13",
            ],
            ["0", "20", "40", "60", "80", "100"],
        ),
    ],
)
def test_trend_axes_label_each_day_once_and_end_above_the_highest_point(values, x_labels, y_labels):
    assert _axis_labels(values) == (x_labels, y_labels)
