"""The migration report's extra link: a button on the summary task in the Airflow UI.

Airflow 3 computes an operator's extra links on the worker when the task ends and keeps them in
XCom (key ``_link_<class name>``); the UI reads them from there. :class:`MigrationReportLink`
returns the URL of the HTML report the operator wrote (its ``report_url`` attribute), served by
the plugin of :mod:`os_migrate_airflow.plugins`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from os_migrate_airflow.dag_support import staging_root

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Where the plugin's app is mounted in the API server, and the reports' path under it.
URL_PREFIX = "/os-migrate"
REPORTS_PATH = "/reports"


def report_url(path: str | Path, *, root: str | Path | None = None, base_url: str = "") -> str | None:
    """URL of a report file through the plugin, or None when it is not under the staging root.

    :param path: the written report file.
    :param root: the staging root (default: this process's, :func:`~.dag_support.staging_root`).
    :param base_url: the API server's base URL (``[api] base_url``); empty gives a path relative
        to the UI's host.
    """
    base = Path(root if root is not None else staging_root()).resolve()
    target = Path(path).resolve()
    if not target.is_relative_to(base):
        return None
    return f"{base_url.rstrip('/')}{URL_PREFIX}{REPORTS_PATH}/{target.relative_to(base).as_posix()}"


def api_base_url() -> str:
    """``[api] base_url`` of the Airflow configuration, or ``""``."""
    from airflow.sdk.configuration import conf

    return str(conf.get("api", "base_url", fallback="") or "")


class MigrationReportLink(BaseOperatorLink):
    """ "Migration report": the HTML report the task wrote (empty when it wrote none)."""

    name = "Migration report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The operator's ``report_url`` (set by its ``execute``), or ``""``."""
        url: Any = getattr(operator, "report_url", None)
        return str(url) if url else ""
