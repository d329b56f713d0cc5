"""Trigger a DAG run through the Airflow REST API and wait for it, printing task states.

Usage: ``python scripts/run_dag.py [--dag os_migrate_pre_workload] [--conf '{"tenant": "demo"}']``
Needs the api-server of ``scripts/airflow.sh start``. Exit status 0 only if the run succeeded.
Credentials: ``AIRFLOW_USER``/``AIRFLOW_PASSWORD`` (default admin/admin, the dev login).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import requests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", default="os_migrate_pre_workload")
    parser.add_argument("--conf", default="{}", help="JSON conf of the run (the DAG's params)")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for the run")
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('AIRFLOW_API_PORT', '18080')}")
    args = parser.parse_args(argv)
    conf = json.loads(args.conf)
    base = args.url.rstrip("/")
    token = requests.post(
        f"{base}/auth/token",
        json={
            "username": os.environ.get("AIRFLOW_USER", "admin"),
            "password": os.environ.get("AIRFLOW_PASSWORD", "admin"),
        },
        timeout=30,
    ).json()["access_token"]
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    dag_url = f"{base}/api/v2/dags/{args.dag}"
    for _ in range(90):  # the dag-processor may not have parsed the file yet
        if s.get(dag_url, timeout=30).status_code == 200:
            break
        time.sleep(2)
    else:
        errors = s.get(f"{base}/api/v2/importErrors", timeout=30).json()
        print(f"DAG {args.dag} not found; import errors: {json.dumps(errors, indent=1)}")
        return 1
    s.patch(dag_url, json={"is_paused": False}, timeout=30).raise_for_status()
    run_id = args.run_id or f"manual-{time.strftime('%Y%m%dT%H%M%S')}"
    resp = s.post(
        f"{dag_url}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}, timeout=30
    )
    if resp.status_code >= 400:
        print(f"trigger refused ({resp.status_code}): {resp.text}")
        return 1
    print(f"triggered {args.dag} run {run_id} with conf {json.dumps(conf)}")
    deadline = time.time() + args.timeout
    state = None
    while time.time() < deadline:
        state = s.get(f"{dag_url}/dagRuns/{run_id}", timeout=30).json()["state"]
        if state in ("success", "failed"):
            break
        time.sleep(3)
    tis = s.get(f"{dag_url}/dagRuns/{run_id}/taskInstances", timeout=30).json()
    for ti in sorted(tis.get("task_instances", []), key=lambda t: t.get("start_date") or ""):
        print(f"  {ti['task_id']:<32} {ti['state']}")
    print(f"run {run_id}: {state}")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
