"""Officials' daily work lists: who must act on which warning, by when (issue 13).

The assignments are built by dbt (``marts.fct_warning_assignments``: assignment on the
day a warning is raised, due dates from seed ``service_targets``, escalation to the
township and the county, handover to a successor). This package turns the assignments
in force on a date into one list per official (``lists``), writes it as an offline page
in the county report's style and sends it by email and webhook, once per date and
channel (``publish``). Nothing it writes or sends carries a resident ID or name.
"""

from household_monitoring.worklists.lists import WorkItem, WorkList, WorklistError, collect_worklists
from household_monitoring.worklists.publish import Published, publish_worklists

__all__ = ["Published", "WorkItem", "WorkList", "WorklistError", "collect_worklists", "publish_worklists"]
