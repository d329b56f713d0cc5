"""docker-compose.yaml: valid for docker-compose, and shaped for the migration (shared staging
volume, project installed in the image, API on loopback only, no secrets beyond documented dev defaults)."""

import shutil
import subprocess
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yaml"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
)


def test_docker_compose_accepts_the_file():
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed (make test installs it: apt-get install docker-compose)"
    proc = subprocess.run([exe, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_airflow_service_shares_staging_and_sees_the_core():
    doc = yaml.safe_load(COMPOSE.read_text())
    assert "migration-staging" in doc["volumes"]
    for name in AIRFLOW_SERVICES:
        svc = doc["services"][name]
        assert "migration-staging:/opt/airflow/staging" in svc["volumes"], name
        assert svc["build"] in (".", {"context": "."}), name  # the Dockerfile installs the project
        env = svc["environment"]
        assert "PYTHONPATH" not in env and "_PIP_ADDITIONAL_REQUIREMENTS" not in env, name
        assert env["OS_MIGRATE_STAGING_ROOT"] == "/opt/airflow/staging", name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_only_the_api_is_published_and_only_on_loopback():
    doc = yaml.safe_load(COMPOSE.read_text())
    published = {name: svc["ports"] for name, svc in doc["services"].items() if svc.get("ports")}
    assert published == {"airflow-apiserver": ["127.0.0.1:8080:8080"]}
