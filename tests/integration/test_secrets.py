"""Secrets never leave the Connections: after runs of both tenant DAGs with distinctive secrets
(a password, an application credential secret), none appears in the staged data, plans, reports,
XCom, rendered templates or task logs; staged files are readable by their owner only.

The private key of a conversion host (a Connection's ``private_key``) is scanned the same way by
``test_conversion_host.py::test_killed_copy_then_dag_rerun_converges_without_leaks``, which runs
that copy path; keypairs carry no private key (Nova never returns one, see
:class:`os_migrate.resources.Keypair`).
"""

from __future__ import annotations

import json
import secrets
import stat
import urllib.parse
from pathlib import Path

import openstack.connection
import pytest

from .conftest import NETWORK_TYPES, REPO_ROOT, connect

USER = "osm-secrets-user"


@pytest.fixture(scope="module")
def secret_user():
    """A user with a fresh random password, member of projects src and dst of cloud 1, and an
    application credential (our own random secret) scoped to dst."""
    admin = connect("devcloud-admin")
    ident = admin.identity
    domain = ident.find_domain("Default")
    password = f"osm-pw-{secrets.token_hex(12)}"
    user = ident.find_user(USER, domain_id=domain.id)
    if user is None:
        user = ident.create_user(name=USER, domain_id=domain.id, password=password)
    else:
        ident.update_user(user, password=password)
    member = ident.find_role("member")
    for project in ("src", "dst"):
        ident.assign_project_role_to_user(ident.find_project(project, domain_id=domain.id), user, member)
    auth_url = admin.config.auth["auth_url"]
    as_user = openstack.connection.Connection(
        auth_type="password",
        region_name=admin.config.region_name,
        auth={
            "auth_url": auth_url,
            "username": USER,
            "password": password,
            "project_name": "dst",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    )
    app_secret = f"osm-ac-{secrets.token_hex(12)}"
    for old in as_user.identity.application_credentials(user=as_user.current_user_id):
        as_user.identity.delete_application_credential(as_user.current_user_id, old)
    cred = as_user.identity.create_application_credential(
        user=as_user.current_user_id, name="osm-secrets-test", secret=app_secret
    )
    yield {
        "auth_url": auth_url,
        "region": admin.config.region_name,
        "password": password,
        "app_secret": app_secret,
        "app_id": cred.id,
    }
    as_user.identity.delete_application_credential(as_user.current_user_id, cred.id)


def _set_connections(monkeypatch, s) -> None:
    """``sec_src``: password auth; ``sec_dst``: application credential (secret in the password field)."""
    common = {"conn_type": "openstack", "host": s["auth_url"]}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEC_SRC",
        json.dumps(
            {
                **common,
                "login": USER,
                "password": s["password"],
                "extra": {
                    "project_name": "src",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                    "region_name": s["region"],
                },
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEC_DST",
        json.dumps(
            {
                **common,
                "password": s["app_secret"],
                "extra": {"application_credential_id": s["app_id"], "region_name": s["region"]},
            }
        ),
    )


def _airflow_texts() -> dict[str, list[str]]:
    """XCom values and rendered template fields of every task instance in the metadata DB, and
    the task log files under the log folder."""
    from airflow.configuration import conf
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = [json.dumps(x.value, default=str) for x in session.query(XComModel).all()]
        rendered = [
            json.dumps(r.rendered_fields, default=str)
            for r in session.query(RenderedTaskInstanceFields).all()
        ]
    folder = Path(conf.get("logging", "base_log_folder"))
    logs = (
        [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    )
    return {"xcom": xcoms, "rendered templates": rendered, "task log files": logs}


def test_both_dags_leave_no_secret_anywhere_and_staged_files_are_private(
    airflow_db, secret_user, seeded_src, empty_dst, monkeypatch, tmp_path, caplog, capfd, report_figure
):
    from airflow.dag_processing.dagbag import DagBag

    _set_connections(monkeypatch, secret_user)
    data_dir = tmp_path / "staged"
    conf = {"tenant": "sec", "src_conn_id": "sec_src", "dst_conn_id": "sec_dst", "data_dir": str(data_dir)}
    pre = DagBag(dag_folder=str(REPO_ROOT / "dags" / "os_migrate_pre_workload.py")).dags[
        "os_migrate_pre_workload"
    ]
    run = pre.test(run_conf={**conf, "resource_types": [*NETWORK_TYPES, "server_groups", "keypairs"]})
    assert run.state == "success"
    wl = DagBag(dag_folder=str(REPO_ROOT / "dags" / "os_migrate_workloads.py")).dags["os_migrate_workloads"]
    run = wl.test(run_conf={**conf, "servers": []})
    assert run.state == "success"

    out, err = capfd.readouterr()
    staged = {str(p): p.read_bytes().decode("utf-8", "replace") for p in data_dir.rglob("*") if p.is_file()}
    assert any(p.endswith(".yml") for p in staged) and any("plan" in p for p in staged), sorted(staged)
    places = {
        "staged data, plans and reports": list(staged.values()),
        **_airflow_texts(),
        "task logs (captured)": [caplog.text, out, err],
    }
    needles = [secret_user["password"], secret_user["app_secret"]]
    needles += [urllib.parse.quote(n, safe="") for n in needles]
    found = [(where, n[:10]) for where, texts in places.items() for t in texts for n in needles if n in t]
    assert found == []

    exposed = [
        f"{p}: {stat.filemode(p.stat().st_mode)}"
        for p in [data_dir, *data_dir.rglob("*")]
        if p.stat().st_mode & 0o077
    ]
    assert exposed == []
    report_figure(
        f"secrets scan: 2 secrets (password, application credential secret) x {sum(map(len, places.values()))} "
        f"texts in {len(places)} places: 0 found; {len(staged)} staged files, all owner-only"
    )
