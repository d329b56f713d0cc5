"""Fixtures of the browser tests: an embedded Airflow of its own, a headless Chromium, the cloud.

* ``airflow_ui`` starts ``scripts/airflow.sh`` with a fresh ``AIRFLOW_HOME`` under
  ``test-output/ui/airflow-home`` (logs stay there for a failed run) on a free loopback port
  (``OS_MIGRATE_UI_PORT`` to choose one), with Connections ``openstack_src``/``openstack_dst`` on the
  devcloud's ``clouds.yaml`` (``DEVCLOUD_CLOUDS_YAML``), and stops it afterwards.
* ``browser`` is Debian's ``chromium`` driven through Debian's ``chromedriver`` by Selenium
  (``make browser-tool`` installs both); Selenium Manager runs offline and never downloads a
  browser or a driver.
* Screenshots go to ``test-output/ui/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from ..integration.conftest import CLOUDS_YAML, connect

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT = REPO_ROOT / "test-output" / "ui"
#: Seconds to wait after an approval turns ``awaiting_input`` before answering it through the REST
#: API. Airflow 3.3 race (seen in CI, 2026-12-03): an answer within ~0.2 s of the pause re-queues the
#: task before the executor reports the paused process's end; the scheduler then marks the try
#: failed ("finished with state success, but the task instance's state attribute is queued"), the
#: retry asks again and the answer is lost. A person never answers that fast; tests wait this long.
HITL_SETTLE_S = 10
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Headless flags that work on this machine kind (no sandbox as root, no background traffic).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,2000",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _airflow_env(home: Path, port: int) -> dict[str, str]:
    """The test process's environment without its own Airflow settings (tests/conftest.py sets a
    unit-test AIRFLOW_HOME and DB), plus the embedded Airflow's home, port and clouds.yaml."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_", "AIRFLOW__")) and k != "OS_MIGRATE_STAGING_ROOT"
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW_API_PORT=str(port),
        DEVCLOUD_CLOUDS_YAML=str(CLOUDS_YAML),
    )
    return env


class AirflowApi:
    """The REST API of the embedded Airflow, logged in as the dev user admin/admin."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        token = requests.post(
            f"{base_url}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30
        ).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params):
        resp = self.session.get(f"{self.base_url}/api/v2{path}", params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has parsed and serialized ``dag_id``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.session.get(f"{self.base_url}/api/v2/dags/{dag_id}", timeout=30).status_code == 200:
                return
            time.sleep(2)
        raise AssertionError(f"DAG {dag_id} not parsed: {self.get('/importErrors')}")

    def run_ids(self, dag_id: str) -> set[str]:
        return {r["dag_run_id"] for r in self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]}

    def wait_for_new_run(self, dag_id: str, known: set[str], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.run_ids(dag_id) - known
            if new:
                return self.get(f"/dags/{dag_id}/dagRuns/{new.pop()}")
            time.sleep(1)
        raise AssertionError(f"no new run of {dag_id} within {timeout} s")

    def wait_for_end(self, dag_id: str, run_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        run = {}
        while time.monotonic() < deadline:
            run = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(3)
        raise AssertionError(f"{dag_id} run {run_id} still {run.get('state')} after {timeout} s")

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
        tis = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=500)["task_instances"]
        return {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}


@contextlib.contextmanager
def embedded_airflow(name: str = "airflow-home", extra_env: dict[str, str] | None = None):
    """Start ``scripts/airflow.sh`` with a fresh home ``test-output/ui/<name>``; yield its base URL.

    :param extra_env: more environment of the Airflow processes (e.g. a DAG bundle list).
    """
    OUTPUT.mkdir(parents=True, exist_ok=True)
    home = OUTPUT / name
    shutil.rmtree(home, ignore_errors=True)
    port = int(os.environ.get("OS_MIGRATE_UI_PORT") or _free_port())
    env = {**_airflow_env(home, port), **(extra_env or {})}
    script = str(REPO_ROOT / "scripts" / "airflow.sh")
    subprocess.run([script, "connections-devcloud"], env=env, check=True, timeout=300)
    try:
        subprocess.run([script, "start"], env=env, check=True, timeout=300)
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False, timeout=120)


@pytest.fixture(scope="module")
def airflow_ui():
    """Base URL of a freshly started embedded Airflow (api-server, scheduler, dag-processor, triggerer)."""
    with embedded_airflow() as url:
        yield url


@pytest.fixture(scope="module")
def api(airflow_ui):
    return AirflowApi(airflow_ui)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium under Selenium; nothing is downloaded."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never fetch a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(
                f"{path} not found: run `make browser-tool` (apt-get install chromium chromium-driver)"
            )
    profile = OUTPUT / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def sample_cloud():
    """Project src holds the sample tenant with server ``demo-vm`` (and no other networking);
    project dst is empty (no networking, servers, volumes, keypairs or own images)."""
    import sample_tenant  # on sys.path through tests/integration/conftest.py

    src, dst = connect("devcloud-src"), connect("devcloud-dst")
    sample_tenant.clean(dst)
    # clean() keeps keypairs and images; leftovers of other tests in dst would conflict with src's
    for keypair in list(dst.compute.keypairs()):
        dst.compute.delete_keypair(keypair, ignore_missing=True)
    for image in list(dst.image.images(owner=dst.current_project_id)):
        dst.image.delete_image(image, ignore_missing=True)
    sample_tenant.clean(src)  # whatever earlier tests left there would migrate too
    sample_tenant.seed(src)
    sample_tenant.seed_server(src)
    return src, dst
