"""The ``os-migrate`` command line: parsing, cloud selection, exit status, error reports.

The core functions are replaced by small fakes recording their arguments; no cloud is reached.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re

import pytest

import os_migrate.workload
from os_migrate import cli, transfer
from os_migrate.apply import DEFAULT_CONCURRENCY
from os_migrate.const import DEFAULT_API_TIMEOUT
from os_migrate.exceptions import ApplyError, CloudError, ValidationError
from os_migrate.resources import ADMIN_TYPES
from os_migrate.workload import MigrationFailed

SECRET = "s3cret-Pa55word"


class FakeSession:
    def request(self, url, method, *args, **kwargs):  # pragma: no cover - never called by the fakes
        raise AssertionError("no request expected")


class FakeConn:
    """Stands in for an openstacksdk Connection: a name and a session RequestCounter can wrap."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.session = FakeSession()


@pytest.fixture
def clouds(monkeypatch):
    """``cli.connect`` returns a FakeConn per cloud name and records the names asked for."""
    asked = []

    def connect(name):
        asked.append(name)
        return FakeConn(name)

    monkeypatch.setattr(cli, "connect", connect)
    monkeypatch.delenv("OS_CLOUD", raising=False)
    monkeypatch.delenv(cli.DATA_DIR_ENV, raising=False)
    return asked


def run(*argv):
    """``(status, stdout, stderr)`` of ``os-migrate argv``."""
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


# -- argument types -------------------------------------------------------------------------------


def test_filters_by_name_and_regex_merge_per_type():
    items = [
        cli.type_filter("networks=db-net"),
        cli.type_filter("networks=regex:^app-"),
        cli.type_filter("routers=edge"),
    ]
    assert cli.filters_arg(items) == {"networks": ["db-net", {"regex": "^app-"}], "routers": ["edge"]}
    assert cli.filters_arg(None) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("networks", "expected TYPE=NAME"),
        ("networks=", "expected TYPE=NAME"),
        ("servers=web", "unknown resource type 'servers'"),
        ("networks=regex:([", "invalid regular expression"),
    ],
)
def test_bad_filters_are_refused(value, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(").replace("[", r"\[")):
        cli.type_filter(value)


def test_types_are_checked_and_merged():
    assert cli.type_list("networks, subnets") == ["networks", "subnets"]
    assert cli.types_arg([["subnets"], ["networks", "subnets"]]) == ["subnets", "networks"]
    assert cli.types_arg(None) is None
    with pytest.raises(argparse.ArgumentTypeError, match="flavours"):
        cli.type_list("networks,flavours")


def test_migration_params_are_yaml_values():
    assert cli.migration_param("boot_disk_copy=true") == ("boot_disk_copy", True)
    assert cli.migration_param("floating_ip_mode=skip") == ("floating_ip_mode", "skip")
    assert cli.migration_param("volume_type_map={a: b}") == ("volume_type_map", {"a": "b"})
    with pytest.raises(argparse.ArgumentTypeError):
        cli.migration_param("no-equals-sign")


# -- usage errors: status 2 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["export", "--src-cloud", "a"],  # no --data-dir
        ["plan", "--dst-cloud", "a", "--data-dir", "d", "--filter", "flavours=x"],
        ["plan", "--dst-cloud", "a", "--data-dir", "d", "--filter", "networks=regex:("],
        ["import", "--dst-cloud", "a", "--data-dir", "d", "--types", "networks,nope"],
        ["workloads", "migrate", "--src-cloud", "a", "--dst-cloud", "b", "--data-dir", "d", "--dryrun"],
    ],
)
def test_usage_errors_exit_2(clouds, argv, capsys):
    status, _, _ = run(*argv)
    assert status == 2
    assert "usage: os-migrate" in capsys.readouterr().err
    assert clouds == []


def test_help_exits_0(capsys):
    assert run("--help")[0] == 0
    assert "import-osm" in capsys.readouterr().out


def test_a_command_needing_a_cloud_without_one_is_a_usage_error(clouds):
    status, out, err = run("export", "--data-dir", "d")
    assert status == 2
    assert "give --src-cloud (or --os-cloud / OS_CLOUD)" in err
    assert clouds == []


def test_workload_commands_need_both_clouds_and_a_server_selection(clouds):
    status, _, err = run("workloads", "preflight", "--os-cloud", "a", "--data-dir", "d", "--server", "vm")
    assert status == 2 and "need both --src-cloud and --dst-cloud" in err
    status, _, err = run("workloads", "migrate", "--src-cloud", "a", "--dst-cloud", "b", "--data-dir", "d")
    assert status == 2 and "--all-servers" in err
    assert clouds == []


def test_unknown_cloud_is_a_usage_error_and_no_secret_is_printed(tmp_path, monkeypatch):
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(
        "clouds:\n  mine:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n"
        f"      username: u\n      password: {SECRET}\n      project_name: p\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    monkeypatch.delenv("OS_CLOUD", raising=False)
    status, out, err = run("plan", "--dst-cloud", "theirs", "--data-dir", str(tmp_path))
    assert status == 2
    assert "'theirs'" in err and str(clouds_yaml) in err
    assert SECRET not in out + err


def test_unreachable_cloud_fails_with_1_without_secret_or_traceback(tmp_path, monkeypatch):
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(
        "clouds:\n  mine:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
        f"      username: u\n      password: {SECRET}\n      project_name: p\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    monkeypatch.setenv("OS_CLOUD", "mine")
    status, out, err = run("validate", "--data-dir", str(tmp_path))
    assert status == 1
    assert "cannot be reached" in err
    assert SECRET not in out + err
    assert "Traceback" not in err


# -- clouds ---------------------------------------------------------------------------------------


def test_os_cloud_is_the_default_single_cloud(clouds, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        cli,
        "export_resources",
        lambda conn, data_dir, **kw: (
            calls.append((conn.cloud, data_dir, kw)) or {"counts": {}, "files": {}, "changed": {}}
        ),
    )
    monkeypatch.setenv("OS_CLOUD", "from-env")
    assert run("export", "--data-dir", str(tmp_path))[0] == 0
    assert run("export", "--src-cloud", "explicit", "--data-dir", str(tmp_path))[0] == 0
    assert run("--os-cloud", "option", "export", "--data-dir", str(tmp_path))[0] == 0
    assert [c[0] for c in calls] == ["from-env", "explicit", "option"]
    assert calls[0][2] == {"types": None, "filters": None, "stage_image_data": False}


# -- results and failures -------------------------------------------------------------------------


def fake_import(recorded):
    def import_resources(conn, data_dir, **kw):
        recorded.append((conn.cloud, data_dir, kw))
        return {
            "dry_run": kw["dry_run"],
            "counts": {"create": 1, "update": 1, "unchanged": 3, "skip": 2},
            "plan_files": {"networks": f"{data_dir}/plans/networks.yml"},
            "actions": [
                {"type": "networks", "name": "app-net", "action": "create"},
                {
                    "type": "subnets",
                    "name": "app-subnet",
                    "action": "update",
                    "changes": {"description": {"from": "old", "to": "new"}},
                },
                {"type": "networks", "name": "other", "action": "skip"},
            ],
        }

    return import_resources


def test_plan_is_a_dry_run_import_with_types_and_filters(clouds, monkeypatch):
    recorded = []
    monkeypatch.setattr(cli, "import_resources", fake_import(recorded))
    status, out, err = run(
        "plan",
        "--dst-cloud",
        "dst",
        "--data-dir",
        "d",
        "--types",
        "subnets,networks",
        "--filter",
        "networks=regex:^app-",
        "--filter",
        "networks=db-net",
    )
    assert status == 0, err
    assert recorded == [
        (
            "dst",
            "d",
            {
                "types": ["subnets", "networks"],
                "filters": {"networks": [{"regex": "^app-"}, "db-net"]},
                "dry_run": True,
                "src_conn": None,
                "options": None,
                "concurrency": DEFAULT_CONCURRENCY,
            },
        )
    ]
    assert "would create networks 'app-net'" in out
    assert "would update subnets 'app-subnet': description 'old' -> 'new'" in out
    assert "plan: 1 create, 1 update, 3 unchanged, 2 skipped; 0 write request(s)" in out


def test_import_passes_concurrency_and_refuses_less_than_one(clouds, monkeypatch, capsys):
    recorded = []
    monkeypatch.setattr(cli, "import_resources", fake_import(recorded))
    status, _, err = run("import", "--dst-cloud", "dst", "--data-dir", "d", "--concurrency", "3")
    assert status == 0, err
    assert recorded[0][2]["concurrency"] == 3

    status, _, _ = run("import", "--dst-cloud", "dst", "--data-dir", "d", "--concurrency", "0")
    assert status == 2
    assert "--concurrency: '0' is not a whole number of at least 1" in capsys.readouterr().err
    assert len(recorded) == 1


def test_import_json_result_counts_requests(clouds, monkeypatch):
    recorded = []
    monkeypatch.setattr(cli, "import_resources", fake_import(recorded))
    status, out, _ = run(
        "import", "--dst-cloud", "dst", "--src-cloud", "src", "--data-dir", "d", "-f", "json"
    )
    assert status == 0
    doc = json.loads(out)
    assert doc["counts"]["create"] == 1
    assert doc["requests"] == {"reads": 0, "writes": 0}
    assert recorded[0][2]["dry_run"] is False
    assert recorded[0][2]["src_conn"].cloud == "src"
    assert clouds == ["dst", "src"]


def test_validation_errors_are_reported_one_per_line_with_status_1(clouds, monkeypatch):
    errors = [
        "d/subnets.yml: resources[0] (openstack.network.Subnet 'a'): params.cidr: is required",
        "d/networks.yml: resources[2] (openstack.network.Network 'b'): params.mtu: unknown field",
    ]
    monkeypatch.setattr(cli, "validate_data_dir", lambda data_dir, **kw: list(errors))
    status, out, err = run("validate", "--dst-cloud", "dst", "--data-dir", "d")
    assert status == 1
    assert err.splitlines() == ["os-migrate: validation failed with 2 error(s):", *(f"  {e}" for e in errors)]
    assert "Traceback" not in err and out == ""


def test_offline_validation_needs_no_cloud(clouds, monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "validate_data_dir", lambda data_dir, **kw: seen.append(kw["conn"]) or [])
    status, out, _ = run("validate", "--offline", "--data-dir", "d")
    assert status == 0 and seen == [None] and clouds == []
    assert "valid (files only)" in out


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            ValidationError(["f.yml: resources[0] (t 'x'): params.a: bad"]),
            "  f.yml: resources[0] (t 'x'): params.a: bad",
        ),
        (ApplyError(["f.yml: resources[1] (t 'y'): create failed: 409"]), "1 resource(s) failed to import:"),
        (CloudError("cloud u@p at http://k cannot be reached"), "os-migrate: error: cloud u@p"),
    ],
)
def test_core_errors_exit_1_with_their_report(clouds, monkeypatch, exc, expected):
    def fail(*a, **kw):
        raise exc

    monkeypatch.setattr(cli, "import_resources", fail)
    status, _, err = run("import", "--dst-cloud", "dst", "--data-dir", "d")
    assert status == 1
    assert expected in err.splitlines()[0] or expected in err.splitlines()
    assert "Traceback" not in err


def test_sdk_errors_exit_1_and_debug_adds_the_traceback(clouds, monkeypatch):
    from openstack import exceptions as sdk_exc

    def fail(*a, **kw):
        raise sdk_exc.HttpException("boom")

    monkeypatch.setattr(cli, "export_resources", fail)
    status, _, err = run("export", "--src-cloud", "s", "--data-dir", "d")
    assert status == 1 and "os-migrate: error: HttpException: boom" in err and "Traceback" not in err
    status, _, err = run("--debug", "export", "--src-cloud", "s", "--data-dir", "d")
    assert status == 1 and "Traceback" in err


def test_main_restores_logging_and_progress_settings(clouds, monkeypatch):
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    monkeypatch.setattr(cli, "validate_data_dir", lambda data_dir, **kw: [])
    assert run("-vv", "--progress", "always", "validate", "--offline", "--data-dir", "d")[0] == 0
    assert (root.handlers, root.level) == before
    assert transfer._live_stream is None


# -- workloads ------------------------------------------------------------------------------------


@pytest.fixture
def wave(monkeypatch):
    """Fake pre-flight and per-server migration; ``calls`` records the order of calls."""
    calls = []

    def preflight(src, dst, data_dir, *, servers=None, overrides=None, flavor_map=None, on_failure="stop"):
        calls.append(
            ("preflight", servers, overrides)
            + ((flavor_map,) if flavor_map else ())
            + ((on_failure,) if on_failure != "stop" else ())
        )
        return {
            "servers": ["vm-a", "vm-b", "vm-c"],
            "migrate": ["vm-a", "vm-b"],
            "skip": [{"server": "vm-c", "reason": "name taken in the destination"}],
            "done": [],
            "needs": {"instances": 2},
            "warnings": [],
        }

    def migrate_server(src, dst, data_dir, name, *, overrides=None, flavor_map=None):
        calls.append(("migrate", name, src.cloud, dst.cloud) + ((flavor_map,) if flavor_map else ()))
        if name == "vm-b":
            raise MigrationFailed("vm-b: create failed; destination rolled back, source restored")
        if name == "vm-c":
            return {"server": name, "result": "skipped", "reason": "name taken in the destination"}
        return {"server": name, "result": "migrated"}

    monkeypatch.setattr(os_migrate.workload, "preflight", preflight)
    monkeypatch.setattr(os_migrate.workload, "migrate_server", migrate_server)
    return calls


def test_workloads_migrate_runs_each_server_in_turn_and_fails_on_a_failed_one(clouds, wave):
    status, out, err = run(
        "workloads",
        "migrate",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        "dir",
        "--server",
        "regex:^vm-",
        "--migration-param",
        "floating_ip_mode=skip",
    )
    assert status == 1
    assert wave == [
        ("preflight", [{"regex": "^vm-"}], {"floating_ip_mode": "skip"}),
        ("migrate", "vm-a", "s", "d"),
        ("migrate", "vm-b", "s", "d"),
        ("migrate", "vm-c", "s", "d"),
    ]
    assert "vm-a: migrated" in out
    assert "os-migrate: vm-b: error: vm-b: create failed" in err
    assert "migrated: vm-a; already migrated: none; skipped: vm-c; failed: vm-b" in out
    assert "1 server(s) failed" in err


def test_workloads_migrate_skip_policy_and_report_dir(clouds, wave, tmp_path):
    status, out, _ = run(
        "workloads",
        "migrate",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        str(tmp_path / "acme"),
        "--all-servers",
        "--on-preflight-failure",
        "skip",
        "--report-dir",
        str(tmp_path / "reports"),
    )

    assert status == 1  # vm-b failed
    assert wave[0] == ("preflight", None, None, "skip")
    [json_path] = (tmp_path / "reports").glob("workloads__cli-*.json")
    report = json.loads(json_path.read_text())
    assert {s["server"]: s["status"] for s in report["servers"]} == {
        "vm-a": "migrated",
        "vm-b": "failed",
        "vm-c": "skipped",
    }
    assert report["tenant"] == "acme"
    assert re.search(r"vm-b\s+failed", out) and f"report: {json_path}" in out


def test_workloads_flavor_map_from_pairs_and_a_file_reaches_preflight_and_every_server(
    clouds, wave, tmp_path
):
    mapping = tmp_path / "flavors.yml"
    mapping.write_text("m1.small: m1.medium\nm1.large: m2.large\n", encoding="utf-8")

    run(
        "workloads",
        "migrate",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        "dir",
        "--all-servers",
        "--flavor-map-file",
        str(mapping),
        "--flavor-map",
        "m1.large=m3.large",
    )

    expected = {"m1.small": "m1.medium", "m1.large": "m3.large"}  # a pair wins over the file
    assert wave[0] == ("preflight", None, None, expected)
    assert [c[-1] for c in wave[1:]] == [expected] * 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--flavor-map", "m1.small"], "expected SOURCE_FLAVOR=DESTINATION_FLAVOR"),
        (["--flavor-map", "m1.small="], "expected SOURCE_FLAVOR=DESTINATION_FLAVOR"),
        (["--flavor-map-file", "/nonexistent/flavors.yml"], "--flavor-map-file /nonexistent/flavors.yml"),
    ],
)
def test_a_bad_flavor_map_option_is_a_usage_error(clouds, wave, argv, message, capsys):
    status, _, err = run(
        "workloads",
        "preflight",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        "dir",
        "--all-servers",
        *argv,
    )

    assert status == 2
    assert message in err + capsys.readouterr().err  # argparse's own errors go to sys.stderr
    assert wave == []


def test_a_flavor_map_file_that_is_not_a_mapping_of_names_is_refused(clouds, wave, tmp_path):
    mapping = tmp_path / "flavors.json"
    mapping.write_text('{"m1.small": 2}', encoding="utf-8")

    status, _, err = run(
        "workloads",
        "preflight",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        "dir",
        "--all-servers",
        "--flavor-map-file",
        str(mapping),
    )

    assert status == 2
    assert "'m1.small': 2" in err and wave == []


def test_preflight_prints_the_flavor_each_server_gets(clouds, monkeypatch):
    choice = {
        "source": "m1.small",
        "destination": "m1.medium",
        "field": "flavor_map['m1.small']",
        "vcpus": 2,
        "ram": 2048,
        "disk": 20,
    }
    report = {
        "servers": ["vm-a"],
        "migrate": ["vm-a"],
        "skip": [],
        "done": [],
        "warnings": [],
        "flavors": {"vm-a": choice},
    }
    monkeypatch.setattr(os_migrate.workload, "preflight", lambda *a, **k: dict(report))

    status, out, _ = run(
        "workloads", "preflight", "--src-cloud", "s", "--dst-cloud", "d", "--data-dir", "dir", "--all-servers"
    )

    assert status == 0
    assert (
        "server 'vm-a': flavor m1.small -> m1.medium (flavor_map['m1.small']; 2 vCPU, 2048 MiB RAM, 20 GiB disk)"
        in out
    )


def test_workloads_migrate_names_servers_an_earlier_run_migrated(clouds, wave, monkeypatch):
    report = {"servers": ["vm-a"], "migrate": [], "skip": [], "done": ["vm-a"], "warnings": []}
    monkeypatch.setattr(os_migrate.workload, "preflight", lambda *a, **k: dict(report))
    status, out, _ = run(
        "workloads", "migrate", "--src-cloud", "s", "--dst-cloud", "d", "--data-dir", "dir", "--all-servers"
    )
    assert status == 0
    assert "vm-a: already migrated, nothing to do" in out
    assert "migrated: none; already migrated: vm-a; skipped: none; failed: none" in out


def test_workloads_migrate_dry_run_is_preflight_only(clouds, wave):
    status, out, _ = run(
        "workloads",
        "migrate",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        "x",
        "--all-servers",
        "--dry-run",
    )
    assert status == 0
    assert wave == [("preflight", None, None)]
    assert "pre-flight passed; migrate: vm-a, vm-b" in out and "dry run" in out


def test_preflight_failure_lists_every_problem(clouds, monkeypatch):
    def preflight(*a, **kw):
        raise ValidationError(["vm-a: flavor 'm1.huge' not found", "vm-b: network 'x' not found"])

    monkeypatch.setattr(os_migrate.workload, "preflight", preflight)
    status, _, err = run(
        "workloads",
        "preflight",
        "--src-cloud",
        "s",
        "--dst-cloud",
        "d",
        "--data-dir",
        "x",
        "--server",
        "vm-a",
    )
    assert status == 1
    assert "  vm-a: flavor 'm1.huge' not found" in err.splitlines()
    assert "  vm-b: network 'x' not found" in err.splitlines()


# -- import-osm -----------------------------------------------------------------------------------


def test_import_osm_reports_unconvertible_records_and_writes_nothing(tmp_path):
    osm = tmp_path / "osm"
    osm.mkdir()
    (osm / "subnets.yml").write_text(
        "os_migrate_version: 1.0.5\nresources:\n"
        "- type: openstack.subnet.Subnet\n  params: {name: s1, cidr: 10.0.0.0/24, ip_version: 4,"
        " network_ref: {project_name: p}}\n  _info: {}\n"
    )
    status, out, err = run("import-osm", str(osm), str(tmp_path / "out"))
    assert status == 1
    assert f"  {osm / 'subnets.yml'}: resources[0] (openstack.subnet.Subnet 's1'): params.network_ref:" in err
    assert not (tmp_path / "out").exists()


def test_progress_bars_draw_live_on_the_chosen_stream():
    stream = io.StringIO()
    transfer.draw_progress_on(stream)
    try:
        with transfer.progress_bar(4096, "image cirros") as bar:
            bar.update(4096)
    finally:
        transfer.draw_progress_on(None)
    assert "image cirros: 100%" in stream.getvalue()
    assert transfer._live_stream is None


def test_python_dash_m_runs_the_same_command():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "os_migrate", "plan", "--filter", "bad"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "expected TYPE=NAME or TYPE=regex:PATTERN" in proc.stderr


def test_import_progress_counts_done_and_failed_actions():
    err = io.StringIO()
    apply_log = logging.getLogger("os_migrate.apply")
    with cli.apply_progress(cli.Output(err=err, progress=True)) as bar:
        apply_log.info("%s: done", "create network 'a'")
        apply_log.error("%s: failed: %s", "create subnet 'b'", "409 Conflict")
        apply_log.info("unrelated %s", "line")
        assert bar.n == 2
    assert "import: " in err.getvalue()
    assert apply_log.handlers == []


# -- admin commands -------------------------------------------------------------------------------


def test_admin_export_selects_every_admin_type_and_the_projects(clouds, monkeypatch):
    seen = {}

    def fake_export(conn, data_dir, **kwargs):
        seen.update(kwargs)
        return {"data_dir": data_dir, "counts": {}, "files": {}, "changed": {}}

    monkeypatch.setattr(cli, "export_resources", fake_export)
    status, _, _ = run(
        "admin",
        "export",
        "--src-cloud",
        "a",
        "--data-dir",
        "d",
        "--project",
        "web",
        "--project",
        "regex:^team-",
    )
    assert status == 0 and clouds == ["a"]
    assert seen["types"] == list(ADMIN_TYPES)
    assert seen["filters"] == {"projects": ["web", {"regex": "^team-"}]}


def test_admin_import_reads_the_initial_password_from_the_environment_only(clouds, monkeypatch, capsys):
    seen = {}

    def fake_import(conn, data_dir, **kwargs):
        seen.update(kwargs)
        return {
            "dry_run": False,
            "counts": dict.fromkeys(("create", "update", "unchanged", "skip"), 0),
            "actions": [],
        }

    monkeypatch.setattr(cli, "import_resources", fake_import)
    monkeypatch.setattr(cli, "RequestCounter", FakeCounter)
    monkeypatch.setenv("OSM_PW", "initial-Pa55")
    argv = ("admin", "import", "--dst-cloud", "b", "--data-dir", "d", "--quota-mode", "raise")
    assert run(*argv, "--user-password-env", "OSM_PW")[0] == 0
    assert seen["options"] == {"quota_mode": "raise", "user_password": "initial-Pa55"}
    assert seen["types"] == list(ADMIN_TYPES)
    assert "initial-Pa55" not in "".join(capsys.readouterr())
    status, _, err = run(*argv, "--user-password-env", "OSM_UNSET")
    assert status == 2 and "environment variable OSM_UNSET is not set" in err


class FakeCounter:
    reads = writes = 0

    def __init__(self, conn):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


# -- connections ----------------------------------------------------------------------------------


def test_every_cli_connection_gets_an_api_timeout_that_reaches_the_http_session(tmp_path, monkeypatch):
    auth = (
        "auth: {auth_url: 'https://k.example:5000/v3', username: u, password: p, project_name: x,"
        " user_domain_name: Default, project_domain_name: Default}"
    )
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  c1:\n    {auth}\n  c2:\n    api_timeout: 7\n    {auth}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))

    # real openstacksdk Connections (no API call is made to build them)
    assert cli.connect("c1").session.timeout == DEFAULT_API_TIMEOUT
    assert cli.connect("c2").session.timeout == 7
