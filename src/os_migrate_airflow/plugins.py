"""Airflow plugin: the migration reports, served by the API server under ``/os-migrate/reports/``.

:class:`OsMigratePlugin` (entry point ``airflow.plugins``: ``os_migrate``) mounts a small FastAPI
app at ``/os-migrate``. ``GET /os-migrate/reports/<path>`` returns ``<staging root>/<path>`` when
it is a ``.html`` or ``.json`` file in a ``reports`` directory under the staging root
(``<tenant>/reports/<stem>.html``, as :class:`~os_migrate_airflow.operators.workload.WorkloadSummaryOperator`
writes them), or a wave report under ``waves/<wave>/``; anything else, including a path that
leaves the root through ``..`` or a symbolic link, is a 404. Only a signed-in user (the UI's
session cookie or an API bearer token) gets a file. Pages are sent with a Content-Security-Policy
that allows no script and no external resource.

The staging root is read per request (``$OS_MIGRATE_STAGING_ROOT``, see
:func:`~os_migrate_airflow.dag_support.staging_root`), so it must be the API server's view of the
workers' staging volume.
"""

from __future__ import annotations

from pathlib import Path

from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse

from os_migrate_airflow.dag_support import staging_root
from os_migrate_airflow.links import REPORTS_PATH, URL_PREFIX

_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def report_file(root: str | Path, rel: str) -> Path | None:
    """The report file ``rel`` (relative to ``root``) may name, or None when it is not one.

    A report is a ``.html`` or ``.json`` regular file whose directory is named ``reports``, or
    that sits in ``waves/<wave>/``; after resolving ``..`` and symbolic links it must still be
    under ``root``.
    """
    base = Path(root).resolve()
    try:
        target = (base / rel).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not target.is_relative_to(base) or target.suffix not in _MEDIA_TYPES or not target.is_file():
        return None
    parts = target.relative_to(base).parts
    in_reports = len(parts) >= 2 and parts[-2] == "reports"
    in_waves = len(parts) == 3 and parts[0] == "waves"
    return target if in_reports or in_waves else None


def create_app(root: str | Path | None = None) -> FastAPI:
    """The FastAPI app serving the reports under ``root`` (default: the staging root, read per
    request)."""
    app = FastAPI(title="OS Migrate reports", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(REPORTS_PATH + "/{path:path}", dependencies=[Depends(get_user)])
    def report(path: str) -> FileResponse:
        target = report_file(root if root is not None else staging_root(), path)
        if target is None:
            raise HTTPException(status_code=404, detail="no such report")
        return FileResponse(
            target,
            media_type=_MEDIA_TYPES[target.suffix],
            headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"},
        )

    return app


class OsMigratePlugin(AirflowPlugin):
    """Serves the migration reports (see the module docstring)."""

    name = "os_migrate"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "OS Migrate reports"}]
