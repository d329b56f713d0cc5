"""docker-compose.yaml: valid for docker-compose, shaped for the migration (shared staging volume,
project installed in the image, API on loopback only, the official init sequence, healthchecks),
and configuring Airflow like the native cluster of ``OS_MIGRATE_EXECUTOR=celery scripts/airflow.sh``
(both read deploy/airflow-celery.env)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE = REPO_ROOT / "docker-compose.yaml"
SHARED_ENV = REPO_ROOT / "deploy" / "airflow-celery.env"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
)
#: Settings that name each deployment's own hosts, ports and credentials: allowed to differ.
PER_DEPLOYMENT = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__API__BASE_URL",
    # the native cluster: the dev login of SimpleAuthManager; compose: FAB with a created admin
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "OS_MIGRATE_STAGING_ROOT",
}


def docker_compose(*args: str) -> str:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed (make test installs it: apt-get install docker-compose)"
    proc = subprocess.run([exe, "-f", str(COMPOSE), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def resolved():
    """The compose file as docker-compose resolves it (anchors merged, env_file read)."""
    return yaml.safe_load(docker_compose("config"))


def shared_settings() -> dict[str, str]:
    """deploy/airflow-celery.env as a dict."""
    pairs = (
        line.split("=", 1)
        for line in SHARED_ENV.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return dict(pairs)


def native_settings(tmp_path: Path) -> dict[str, str]:
    """The environment every process of the native cluster gets (scripts/env.sh, celery mode, with
    the keys file of an install), from a clean environment."""
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    (cluster / "secrets.env").write_text(
        "OS_MIGRATE_PG_PASSWORD=pg\nOS_MIGRATE_REDIS_PASSWORD=rd\nAIRFLOW__API_AUTH__JWT_SECRET=j\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "OS_MIGRATE_EXECUTOR": "celery",
        "OS_MIGRATE_CLUSTER_DIR": str(cluster),
    }
    out = subprocess.run(
        ["bash", "-c", ". scripts/env.sh && env -0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(item.split("=", 1) for item in out.split("\0") if item)


def test_docker_compose_accepts_the_file():
    docker_compose("config", "-q")


def test_every_airflow_service_shares_staging_and_sees_the_core(resolved):
    raw = yaml.safe_load(COMPOSE.read_text())
    assert "migration-staging" in raw["volumes"]
    for name in AIRFLOW_SERVICES:
        svc = resolved["services"][name]
        assert "migration-staging:/opt/airflow/staging:rw" in svc["volumes"], name
        assert raw["services"][name]["build"] in (".", {"context": "."}), name  # the Dockerfile installs it
        env = svc["environment"]
        assert "PYTHONPATH" not in env and "_PIP_ADDITIONAL_REQUIREMENTS" not in env, name
        assert env["OS_MIGRATE_STAGING_ROOT"] == "/opt/airflow/staging", name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        # one airflow.cfg (written once by airflow-init) holds the keys every service shares
        assert env["AIRFLOW_CONFIG"] == "/opt/airflow/config/airflow.cfg", name
        assert "AIRFLOW__CORE__FERNET_KEY" not in env, name  # an empty one would disable encryption


def test_only_the_api_is_published_and_only_on_loopback():
    doc = yaml.safe_load(COMPOSE.read_text())
    published = {name: svc["ports"] for name, svc in doc["services"].items() if svc.get("ports")}
    assert published == {"airflow-apiserver": ["127.0.0.1:8080:8080"]}


def test_every_long_running_service_has_a_healthcheck(resolved):
    for name, svc in resolved["services"].items():
        if name == "airflow-init":  # one-shot; the others wait for it to complete
            continue
        assert svc.get("healthcheck", {}).get("test"), name


def test_init_goes_through_the_entrypoint_creates_the_user_and_one_config(resolved):
    init = resolved["services"]["airflow-init"]
    script = init["command"][-1]
    assert init["user"] == "0:0"
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "/entrypoint airflow version" in script  # migrate + user creation happen in the entrypoint
    assert "/entrypoint airflow config list" in script  # writes $AIRFLOW_CONFIG once, with the keys
    assert 'chown -R "50000:0" /opt/airflow/logs /opt/airflow/config /opt/airflow/staging' in script
    assert "/entrypoint airflow pools set conversion_hosts" in script


def test_compose_and_the_native_cluster_configure_the_same_airflow(resolved, tmp_path):
    shared = shared_settings()
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    native = native_settings(tmp_path)
    for name in AIRFLOW_SERVICES:
        env = {k: str(v) for k, v in resolved["services"][name]["environment"].items()}
        # every shared setting reaches every container unchanged, and the native processes
        assert {k: env.get(k) for k in shared} == shared, name
        assert {k: native.get(k) for k in shared} == shared
        # any other Airflow setting both deployments make agrees, unless it is an address/credential
        both = {k for k in env.keys() & native.keys() if k.startswith("AIRFLOW__")} - PER_DEPLOYMENT
        assert {k: env[k] for k in both} == {k: native[k] for k in both}, name
    # the native cluster derives its URLs from its keys file, on loopback
    assert native["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
        "postgresql+psycopg2://airflow:pg@127.0.0.1:"
    )
    assert native["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:rd@127.0.0.1:")
    assert native["AIRFLOW__API__HOST"] == "127.0.0.1"
