"""The native CeleryExecutor cluster of ``OS_MIGRATE_EXECUTOR=celery scripts/airflow.sh``, started
for the tests of this folder in ``test-output/cluster`` (fresh each session; logs stay there).

PostgreSQL, Redis and the API server get free loopback ports, so a developer's own cluster
(``.cluster/``, ports 15432/16379/18280) is not touched. The fixture fails with the end of the
failing service's log (printed by the script) and always stops what it started, also when the
start failed half-way.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ..ui.conftest import REPO_ROOT, AirflowApi, _airflow_env, _free_port

OUTPUT = REPO_ROOT / "test-output" / "cluster"
SCRIPT = str(REPO_ROOT / "scripts" / "airflow.sh")
#: The Celery workers the script starts (their node and task-instance hostnames are ``osm-<name>``).
WORKERS = ("worker-1", "worker-2")


class Cluster:
    """A started cluster: its REST API, environment and state dir."""

    def __init__(self, base_url: str, env: dict[str, str], root: Path, start_seconds: float):
        self.api = AirflowApi(base_url)
        self.start_seconds = start_seconds
        self.env = env
        self.root = root
        self.home = root / "airflow"

    def pid(self, service: str) -> int:
        return int((self.home / "run" / f"{service}.pid").read_text())

    def log_tail(self, service: str, lines: int = 30) -> str:
        path = self.home / "logs" / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _run(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def celery_cluster(extra_env: dict[str, str] | None = None):
    """Start the native cluster in a fresh ``test-output/cluster``; yield a :class:`Cluster`.

    :param extra_env: more environment of every cluster process (e.g. ``AIRFLOW_CONN_*``).
    :raises pytest.fail.Exception: the start failed (message: the script's output, which ends
        with the failing service's log).
    """
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    port = _free_port()
    env = {
        **_airflow_env(OUTPUT / "airflow", port),
        "OS_MIGRATE_EXECUTOR": "celery",
        "OS_MIGRATE_CLUSTER_DIR": str(OUTPUT),
        "OS_MIGRATE_PG_PORT": str(_free_port()),
        "OS_MIGRATE_REDIS_PORT": str(_free_port()),
        **(extra_env or {}),
    }
    try:
        t0 = time.monotonic()
        started = _run(env, "start", timeout=600)
        if started.returncode != 0:
            pytest.fail(
                f"cluster start failed (rc {started.returncode}):\n{started.stdout}\n{started.stderr}",
                pytrace=False,
            )
        yield Cluster(f"http://127.0.0.1:{port}", env, OUTPUT, time.monotonic() - t0)
    finally:
        stopped = _run(env, "stop", timeout=300)
        status = _run(env, "status", timeout=60)
        # every service, PostgreSQL and Redis report "stopped" (status exits 1 then)
        assert "running" not in status.stdout, f"left running after stop:\n{stopped.stdout}{status.stdout}"
