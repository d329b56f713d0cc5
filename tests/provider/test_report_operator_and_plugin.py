"""The summary writes the tenant report, links it, and the plugin serves only reports."""

from __future__ import annotations

import json
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException
from fastapi.testclient import TestClient

from os_migrate.report import safe_stem
from os_migrate_airflow.links import MigrationReportLink, report_url
from os_migrate_airflow.operators.workload import WorkloadSummaryOperator
from os_migrate_airflow.plugins import OsMigratePlugin, create_app, get_user, report_file

RUN_ID = "manual__2026-12-03T10:00:00+00:00"
PREFLIGHT = {
    "servers": ["web", "db", "bad"],
    "migrate": ["web", "db"],
    "skip": [{"server": "bad", "reason": "pre-flight: flavor 'x' not found", "preflight": True}],
    "done": [],
    "run": ["web", "db"],
    "warnings": [],
}
STEPS = {
    s: {"started_at": f"2026-12-03T10:0{i}:00+00:00", "finished_at": f"2026-12-03T10:0{i}:30+00:00"}
    for i, s in enumerate(("prepare", "copy_disks", "create_server", "finalize"))
}
WEB = {
    "server": "web",
    "result": "migrated",
    "steps": STEPS,
    "disks": [{"volume_id": "v", "size": 1, "bytes": 10**6, "seconds": 1.0}],
}


def ti_pulling(values):
    """A task instance whose xcom_pull answers from ``{(task_id, key): value}``."""

    def pull(task_ids, key="return_value", map_indexes=None, default=None):
        value = values.get((task_ids, key), default)
        return value

    return SimpleNamespace(dag_id="os_migrate_workloads", xcom_pull=mock.Mock(side_effect=pull))


def run_summary(data_dir, values, **kw):
    op = WorkloadSummaryOperator(
        task_id="summary", preflight_task_id="preflight", finalize_task_id="migrate_server.finalize", **kw
    )
    ti = ti_pulling(values)
    context = {"ti": ti, "run_id": RUN_ID, "params": {"tenant": "acme"}}
    return op, op.execute(context=context)


def test_the_summary_writes_the_report_under_the_staging_root_and_links_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_MIGRATE_STAGING_ROOT", str(tmp_path))
    data_dir = tmp_path / "acme"
    values = {
        ("preflight", "report"): {**PREFLIGHT, "data_dir": str(data_dir)},
        ("migrate_server.finalize", "return_value"): [WEB, {"server": "db", "result": "migrated"}],
        ("select_volumes", "return_value"): ["archive"],
        ("migrate_volume", "return_value"): [
            {"volume": "archive", "result": "migrated", "copy": {"size": 2, "bytes": 5, "seconds": 1}}
        ],
    }

    op, summary = run_summary(data_dir, values)

    stem = safe_stem("os_migrate_workloads", RUN_ID)
    html = data_dir / "reports" / f"{stem}.html"
    assert summary["report"]["html"] == str(html) and html.is_file()
    assert summary["report"]["url"] == f"/os-migrate/reports/acme/reports/{stem}.html"
    assert summary["report"]["totals"]["servers_skipped"] == 1
    assert "<" not in json.dumps(summary)  # no page content in XCom
    doc = json.loads((data_dir / "reports" / f"{stem}.json").read_text())
    assert [v["volume"] for v in doc["volumes"]] == ["archive"] and doc["tenant"] == "acme"
    # the extra link: computed on the worker from what execute() wrote
    link = MigrationReportLink()
    assert op.operator_extra_links == (link,) or isinstance(op.operator_extra_links[0], MigrationReportLink)
    assert link.get_link(op, ti_key=None) == summary["report"]["url"]


def test_a_failed_server_is_in_the_report_with_its_recorded_error_and_the_task_fails(tmp_path):
    values = {
        ("preflight", "report"): {**PREFLIGHT, "data_dir": str(tmp_path)},
        ("migrate_server.finalize", "return_value"): [WEB, None],
    }
    with (
        mock.patch(
            "os_migrate_airflow.operators.workload.recorded_outcome",
            return_value={
                "server": "db",
                "result": "rolled_back",
                "steps": {},
                "errors": ["copy_disks: CopyError: boom"],
            },
        ),
        pytest.raises(AirflowFailException, match="db"),
    ):
        run_summary(tmp_path, values, volume_select_task_id=None)

    [path] = (tmp_path / "reports").glob("*.json")
    doc = json.loads(path.read_text())
    db = next(s for s in doc["servers"] if s["server"] == "db")
    assert db["status"] == "failed" and "boom" in db["reason"] and doc["failed"] is True


def test_outside_the_staging_root_there_is_no_link(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_MIGRATE_STAGING_ROOT", str(tmp_path / "root"))
    values = {("preflight", "report"): {**PREFLIGHT, "data_dir": str(tmp_path / "elsewhere"), "run": []}}

    op, summary = run_summary(tmp_path, values)

    assert summary["report"]["url"] is None and MigrationReportLink().get_link(op, ti_key=None) == ""
    assert report_url(
        tmp_path / "root" / "t" / "reports" / "r.html", root=tmp_path / "root", base_url="http://af:8080/"
    ) == ("http://af:8080/os-migrate/reports/t/reports/r.html")


# -- the plugin ----------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "staging"
    (root / "acme" / "reports").mkdir(parents=True)
    (root / "acme" / "reports" / "run.html").write_text("<!DOCTYPE html><p>report</p>")
    (root / "acme" / "reports" / "run.json").write_text("{}")
    (root / "acme" / "workloads.yml").write_text("secret: data")
    (root / "waves" / "sat-a").mkdir(parents=True)
    (root / "waves" / "sat-a" / "w1.html").write_text("wave")
    (tmp_path / "outside.html").write_text("outside")
    (root / "acme" / "reports" / "link.html").symlink_to(tmp_path / "outside.html")
    app = create_app(root)
    app.dependency_overrides[get_user] = lambda: SimpleNamespace(username="admin")
    return TestClient(app), root


def test_the_plugin_serves_reports_with_a_no_script_policy(served):
    client, _ = served

    page = client.get("/reports/acme/reports/run.html")
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/reports/acme/reports/run.json").json() == {}
    assert client.get("/reports/waves/sat-a/w1.html").text == "wave"


@pytest.mark.parametrize(
    "path",
    [
        "acme/workloads.yml",  # not a report
        "acme/reports/../workloads.yml",
        "../outside.html",
        "acme/reports/../../../outside.html",
        "%2e%2e/outside.html",
        "acme/reports/link.html",  # a symbolic link out of the root
        "acme/reports/missing.html",
        "/etc/passwd",
    ],
)
def test_the_plugin_refuses_everything_else_with_404(served, path):
    client, root = served

    assert client.get(f"/reports/{path}").status_code == 404
    assert report_file(root, path.replace("%2e", ".")) is None


def test_the_plugin_needs_a_signed_in_user_and_is_registered(tmp_path):
    client = TestClient(create_app(tmp_path))
    assert client.get("/reports/acme/reports/run.html").status_code == 401

    [app] = OsMigratePlugin.fastapi_apps
    assert app["url_prefix"] == "/os-migrate" and app["name"]
