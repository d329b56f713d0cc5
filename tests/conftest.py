"""Test environment for the Airflow side (DAGs, hook, operators).

Everything Airflow reads at import time is set here, before any test module imports ``airflow``:
a throw-away ``AIRFLOW_HOME`` (SQLite metadata DB inside), the project's dags folder, no example
DAGs, unit-test mode. ``os_migrate`` and ``os_migrate_airflow`` are imported as installed packages
(``pip install -e .``), exactly as Airflow imports them in production.

Airflow itself is imported lazily (only by the fixtures and the tests that need it), so core unit
tests under ``tests/unit`` do not pay for it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO_ROOT / "dags"

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="os-migrate-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)

os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["OS_MIGRATE_STAGING_ROOT"] = os.path.join(_AIRFLOW_HOME, "staging")


@pytest.fixture(scope="session")
def airflow_db():
    """Fresh SQLite metadata DB in the temporary AIRFLOW_HOME, created once per session."""
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture
def create_connection_without_db(monkeypatch):
    """Register an Airflow Connection through ``AIRFLOW_CONN_<ID>`` (no metadata DB needed).

    Usage: ``create_connection_without_db(Connection(conn_id="x", conn_type="openstack", ...))``.
    """

    def _create(connection):
        monkeypatch.setenv(f"AIRFLOW_CONN_{connection.conn_id.upper()}", connection.as_json())
        return connection

    return _create


@pytest.fixture
def fake_openstack_connections(create_connection_without_db, monkeypatch):
    """Register ``openstack`` Connections whose hook yields the auth URL instead of a cloud.

    Usage: ``fake_openstack_connections(("openstack_src", "openstack_dst"), password="pw")``; each
    Connection has host ``https://<conn_id>.example:5000/v3``, login ``u``, project ``acme``.
    """
    from airflow.sdk import Connection

    from os_migrate_airflow.hooks import openstack as hook_module

    def _register(conn_ids, password):
        for conn_id in conn_ids:
            create_connection_without_db(
                Connection(
                    conn_id=conn_id,
                    conn_type="openstack",
                    host=f"https://{conn_id}.example:5000/v3",
                    login="u",
                    password=password,
                    extra=json.dumps({"project_name": "acme"}),
                )
            )
        monkeypatch.setattr(
            hook_module, "SDKConnection", mock.MagicMock(side_effect=lambda **kw: kw["auth"]["auth_url"])
        )

    return _register


@pytest.fixture(scope="module")
def api(airflow_db):
    """Airflow's API app in-process (FastAPI ``TestClient``), every request an admin, connection
    testing enabled."""
    from fastapi.testclient import TestClient

    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API_AUTH__JWT_SECRET": "x" * 64,
    }
    with mock.patch.dict(os.environ, env):
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app()) as client:
            yield client


#: Measured figures of this session, printed after the test summary (CI runs pytest -q, which hides
#: the output of passing tests; the issues ask for figures in the test output).
_FIGURES: list[str] = []


@pytest.fixture
def report_figure(request):
    """Record a measured figure for the end-of-run summary: ``report_figure("copies at once: max 2")``.

    Each line is prefixed with the test's node id and printed under "measured figures" in the
    terminal summary, whether or not the test passed.
    """

    def _report(line: str) -> None:
        _FIGURES.append(f"{request.node.nodeid}: {line}")

    return _report


def pytest_terminal_summary(terminalreporter):
    """Print the figures recorded through ``report_figure``."""
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
