"""The sample tenant's networking migrated src -> dst with the ``os-migrate`` command alone.

Every step runs the installed console script (``.venv/bin/os-migrate``) as a subprocess, with
devcloud's clouds.yaml given through ``OS_CLIENT_CONFIG_FILE`` as an OpenStack user would; the
test only reads the clouds to check the outcome.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from os_migrate.cloud import find_or_none

from .conftest import CLOUDS_YAML, NETWORK_TYPES, connect
from .test_network_migration import revisions

OS_MIGRATE = Path(sys.executable).parent / "os-migrate"
TYPES = ",".join(NETWORK_TYPES)


def os_migrate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the console script; ``OS_CLOUD`` is unset unless ``env`` sets it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    environ["OS_CLIENT_CONFIG_FILE"] = str(CLOUDS_YAML)
    environ.update(env or {})
    return subprocess.run(
        [str(OS_MIGRATE), *args], capture_output=True, text=True, env=environ, timeout=900, check=False
    )


def json_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def run(seeded_src, tmp_path_factory):
    """Export, validate, plan, import and re-import, each a separate ``os-migrate`` process."""
    dst = connect("devcloud-dst")
    from sample_tenant import clean

    clean(dst)
    data_dir = str(tmp_path_factory.mktemp("cli") / "data")
    common = ["--data-dir", data_dir, "--types", TYPES, "-f", "json"]
    out = {"data_dir": data_dir, "dst": dst}
    out["export"] = json_of(os_migrate("export", "--src-cloud", "devcloud-src", *common))
    # OS_CLOUD stands in for the single cloud a command needs, as with the openstack client.
    out["validate"] = json_of(os_migrate("validate", *common, env={"OS_CLOUD": "devcloud-dst"}))
    out["before_plan"] = revisions(dst)
    out["plan"] = json_of(os_migrate("plan", "--dst-cloud", "devcloud-dst", *common))
    out["after_plan"] = revisions(dst)
    proc = os_migrate("--progress", "always", "import", "--dst-cloud", "devcloud-dst", *common)
    out["import"], out["import_stderr"] = json_of(proc), proc.stderr
    out["before_reimport"] = revisions(dst)
    out["reimport"] = json_of(os_migrate("import", "--dst-cloud", "devcloud-dst", *common))
    out["after_reimport"] = revisions(dst)
    return out


def test_export_writes_the_sample_tenant(run):
    counts = run["export"]["counts"]
    assert counts["networks"] == 2 and counts["subnets"] == 3 and counts["routers"] == 1
    assert counts["router_interfaces"] == 2
    assert counts["security_groups"] == 4
    assert Path(run["data_dir"], "subnets.yml").exists()


def test_validate_against_the_destination_passes(run):
    assert run["validate"] == {"data_dir": run["data_dir"], "valid": True, "errors": []}


def test_plan_writes_nothing_and_plans_every_create(run):
    plan = run["plan"]
    assert plan["dry_run"] is True
    assert plan["requests"]["writes"] == 0
    assert plan["counts"]["create"] >= 2 + 3 + 1 + 2 + 3
    assert run["after_plan"] == run["before_plan"]  # nothing but the default group, untouched
    assert Path(run["data_dir"], "plans", "networks.yml").exists()


def test_import_creates_the_tenant(run):
    result = run["import"]
    assert result["dry_run"] is False
    assert result["counts"]["create"] == run["plan"]["counts"]["create"]
    # bulk creates: fewer write requests than resources, but never none
    assert 0 < result["requests"]["writes"] <= result["counts"]["create"]
    dst = run["dst"]
    pid = dst.current_project_id
    assert sorted(n.name for n in dst.network.networks(project_id=pid)) == ["app-net", "db-net"]
    router = find_or_none(dst.network.find_router, "edge-router", project_id=pid)
    assert router.routes == [{"destination": "10.30.0.0/16", "nexthop": "10.10.1.200"}]
    ports = dst.network.ports(device_id=router.id, device_owner="network:router_interface")
    assert sorted(ip["ip_address"] for p in ports for ip in p.fixed_ips) == ["10.10.1.1", "10.20.1.5"]


def test_import_progress_counts_resources_and_logs_nothing_else(run):
    err = run["import_stderr"]
    assert f"import: {run['import']['counts']['create'] + run['import']['counts']['update']} resource" in err
    assert "INFO" not in err and "Traceback" not in err


def test_reimport_makes_zero_writes(run):
    result = run["reimport"]
    assert result["requests"]["writes"] == 0
    assert result["counts"]["create"] == 0 and result["counts"]["update"] == 0
    first = run["import"]["counts"]
    assert result["counts"]["unchanged"] == first["create"] + first["unchanged"]
    assert run["after_reimport"] == run["before_reimport"]


def test_filtered_plan_skips_the_rest(run):
    result = json_of(
        os_migrate(
            "plan",
            "--dst-cloud",
            "devcloud-dst",
            "--data-dir",
            run["data_dir"],
            "--types",
            "networks",
            "--filter",
            "networks=regex:^db-",
            "-f",
            "json",
        )
    )
    assert result["counts"] == {"create": 0, "update": 0, "unchanged": 1, "skip": 1}


def test_bad_data_fails_with_the_validation_report_and_writes_nothing(run, tmp_path):
    data_dir = tmp_path / "bad"
    for name in os.listdir(run["data_dir"]):
        if name.endswith(".yml"):
            (data_dir / name).parent.mkdir(exist_ok=True)
            (data_dir / name).write_text(Path(run["data_dir"], name).read_text())
    doc = yaml.safe_load((data_dir / "subnets.yml").read_text())
    del doc["resources"][0]["params"]["cidr"]
    doc["resources"][1]["params"]["network"]["name"] = "no-such-net"
    (data_dir / "subnets.yml").write_text(yaml.safe_dump(doc))
    before = revisions(run["dst"])
    proc = os_migrate("import", "--dst-cloud", "devcloud-dst", "--data-dir", str(data_dir), "--types", TYPES)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "os-migrate: validation failed with 2 error(s):", proc.stderr
    assert any(
        re.search(rf"{re.escape(str(data_dir / 'subnets.yml'))}:\d+: resources\[0\]", ln)
        and "params.cidr: is required" in ln
        for ln in lines
    ), proc.stderr
    assert any("params.network: network 'no-such-net' does not resolve" in ln for ln in lines)
    assert "Traceback" not in proc.stderr
    assert revisions(run["dst"]) == before


def test_help_and_usage_errors():
    assert os_migrate("--help").returncode == 0
    proc = os_migrate("export", "--src-cloud", "no-such-cloud", "--data-dir", "/tmp/x")
    assert proc.returncode == 2
    assert "no-such-cloud" in proc.stderr
