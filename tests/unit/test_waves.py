"""Wave plans: loading, every error at once with its line, defaults, confs, change windows, the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import textwrap
import zoneinfo

import pytest

from os_migrate import cli
from os_migrate.exceptions import ValidationError
from os_migrate.resources import PRE_WORKLOAD_TYPES
from os_migrate.waves import (
    PLAN_SCHEMA,
    check_cron,
    duration_text,
    load_plan,
    parse_duration,
    wave_dag_id,
    window_check,
)

PLAN = """\
version: 1
defaults:
  src_conn_id: "openstack_src_{tenant}"
  dst_conn_id: "openstack_dst_{tenant}"
  data_dir: "/srv/staging/{tenant}"
  copy_method: image
waves:
  - name: saturday-a
    start: "2026-12-05T02:00:00+01:00"
    end: "2026-12-05T06:00:00+01:00"
    approval: false
    concurrency: {servers: 8}
    tenants:
      - tenant: tenant-a
        servers: ["web-1", "regex:^db-", {regex: "^app-"}]
        volumes: ["shared-data"]
        pre_workload:
          resource_types: [networks, subnets]
          filters: {networks: ["app-net", "regex:^db-"]}
        migration_params: {boot_disk_copy: true}
        flavor_map: {m1.small: m1.medium}
      - tenant: tenant-b
        src_conn_id: legacy_src
        data_dir: null
        pre_workload: false
        servers: ["/^app/"]
        copy_method: conversion_host
        src_host_conn_id: ssh_src
        dst_host_conn_id: ssh_dst
        create_dst_project: true
  - name: weekly
    start: {cron: "0 2 * * 6", timezone: Europe/Prague}
    window: 4h
    approval: true
    on_preflight_failure: stop
    concurrency: {servers: 2, copies_per_host_pair: 1}
    tenants:
      - tenant: tenant-a
  - name: after-staging
    start: staged
    window: PT90M
    tenants:
      - tenant: tenant-c
        servers: []
"""


def write(tmp_path, text, name="waves.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        load_plan(path)
    return exc.value.errors


# -- a valid plan ------------------------------------------------------------------------------


def test_valid_plan_loads_with_defaults_merged(tmp_path):
    plan = load_plan(write(tmp_path, PLAN))

    assert [w.name for w in plan.waves] == ["saturday-a", "weekly", "after-staging"]
    sat, weekly, staged = plan.waves
    assert sat.dag_id == "os_migrate_wave_saturday_a" == wave_dag_id("saturday-a")
    assert sat.start == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)
    assert sat.end == dt.datetime(2026, 12, 5, 5, 0, tzinfo=dt.UTC)
    assert (sat.cron, sat.staged, sat.window, sat.timezone) == (None, False, None, "+01:00")
    assert (sat.servers_at_once, sat.copies_per_host_pair) == (8, 2)
    assert (sat.approval, sat.on_preflight_failure) == (False, "skip")
    assert (weekly.cron, weekly.timezone, weekly.start, weekly.window) == (
        "0 2 * * 6",
        "Europe/Prague",
        None,
        dt.timedelta(hours=4),
    )
    assert (
        weekly.approval,
        weekly.on_preflight_failure,
        weekly.servers_at_once,
        weekly.copies_per_host_pair,
    ) == (
        True,
        "stop",
        2,
        1,
    )
    assert staged.staged and staged.window == dt.timedelta(minutes=90) and staged.start is None

    a, b = sat.tenants
    # templated defaults, the tenant's own values winning
    assert (a.src_conn_id, a.dst_conn_id, a.data_dir) == (
        "openstack_src_tenant-a",
        "openstack_dst_tenant-a",
        "/srv/staging/tenant-a",
    )
    assert (b.src_conn_id, b.dst_conn_id, b.data_dir) == ("legacy_src", "openstack_dst_tenant-b", None)
    assert (a.copy_method, b.copy_method) == ("image", "conversion_host")
    assert a.servers == ("web-1", "regex:^db-", {"regex": "^app-"})
    assert a.pre_workload == {
        "resource_types": ["networks", "subnets"],
        "filters": {"networks": ["app-net", "regex:^db-"]},
    }
    assert b.pre_workload is None and b.pre_workload_conf() is None
    # a tenant that sets nothing but its name
    (only,) = weekly.tenants
    assert only.servers == () and only.volumes == () and only.migration_params == {} and only.flavor_map == {}
    assert only.pre_workload == {"resource_types": list(PRE_WORKLOAD_TYPES), "filters": {}}
    assert (only.create_dst_project, only.dst_admin_conn_id) == (False, "openstack_dst_admin")


def test_confs_carry_the_tenant_dag_param_names(tmp_path):
    a, b = load_plan(write(tmp_path, PLAN)).waves[0].tenants

    assert a.pre_workload_conf() == {
        "tenant": "tenant-a",
        "src_conn_id": "openstack_src_tenant-a",
        "dst_conn_id": "openstack_dst_tenant-a",
        "data_dir": "/srv/staging/tenant-a",
        "create_dst_project": False,
        "dst_admin_conn_id": "openstack_dst_admin",
        "resource_types": ["networks", "subnets"],
        "filters": {"networks": ["app-net", "regex:^db-"]},
    }
    assert b.workloads_conf() == {
        "tenant": "tenant-b",
        "src_conn_id": "legacy_src",
        "dst_conn_id": "openstack_dst_tenant-b",
        "data_dir": None,
        "create_dst_project": True,
        "dst_admin_conn_id": "openstack_dst_admin",
        "servers": ["/^app/"],
        "volumes": [],
        "migration_params": {},
        "flavor_map": {},
        "copy_method": "conversion_host",
        "src_host_conn_id": "ssh_src",
        "dst_host_conn_id": "ssh_dst",
    }
    assert a.workloads_conf()["migration_params"] == {"boot_disk_copy": True}
    assert a.workloads_conf()["flavor_map"] == {"m1.small": "m1.medium"}
    # a conf is a copy: changing it does not change the plan
    a.workloads_conf()["servers"].append("x")
    assert a.servers == ("web-1", "regex:^db-", {"regex": "^app-"})


def test_round_trip_through_json(tmp_path):
    plan = load_plan(write(tmp_path, PLAN))
    doc = json.loads(json.dumps(plan.to_dict()))

    assert doc["path"] == str(tmp_path / "waves.yml")
    assert [w["dag_id"] for w in doc["waves"]] == [w.dag_id for w in plan.waves]
    assert doc["waves"][1]["window_seconds"] == 4 * 3600
    assert doc["waves"][0]["tenants"][0]["workloads_conf"] == plan.waves[0].tenants[0].workloads_conf()
    with pytest.raises(AttributeError):
        plan.waves[0].name = "other"  # type: ignore[misc]


def test_unquoted_date_times_and_json_plans_load(tmp_path):
    yml = write(tmp_path, PLAN.replace('"2026-12-05T02:00:00+01:00"', "2026-12-05T02:00:00+01:00"))
    assert load_plan(yml).waves[0].start == dt.datetime(2026, 12, 5, 1, tzinfo=dt.UTC)
    doc = {
        "version": 1,
        "waves": [{"name": "w", "start": "2026-12-05T02:00:00Z", "tenants": [{"tenant": "t"}]}],
    }
    plan = load_plan(write(tmp_path, json.dumps(doc, indent=1), "waves.json"))
    assert plan.waves[0].start == dt.datetime(2026, 12, 5, 2, tzinfo=dt.UTC)
    assert plan.waves[0].tenants[0].src_conn_id == "openstack_src"  # the DAGs' own default


def test_schema_is_draft_2020_12():
    import jsonschema

    assert PLAN_SCHEMA["$schema"].endswith("/2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(PLAN_SCHEMA)


# -- errors ------------------------------------------------------------------------------------

HEAD = """\
version: 1
waves:
  - name: w1
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # naive date-time (line 4)
        (
            '    start: "2026-12-05T02:00:00"\n    tenants: [{tenant: a}]\n',
            "4: waves[0].start: '2026-12-05T02:00:00' has no UTC offset",
        ),
        (
            '    start: "next saturday"\n    tenants: [{tenant: a}]\n',
            "4: waves[0].start: 'next saturday' is not an ISO 8601 date-time",
        ),
        (
            '    start: "2026-12-05T02:00:00Z"\n    end: "2026-12-05T01:00:00Z"\n    tenants: [{tenant: a}]\n',
            "5: waves[0].end: end 2026-12-05T01:00:00Z is not after start 2026-12-05T02:00:00Z",
        ),
        (
            '    start: {cron: "0 2 * * 6"}\n    end: "2026-12-05T01:00:00Z"\n    tenants: [{tenant: a}]\n',
            "5: waves[0].end: end needs a date-time start",
        ),
        (
            '    start: {cron: "0 25 * * 6"}\n    tenants: [{tenant: a}]\n',
            "4: waves[0].start.cron: cron '0 25 * * 6' is not a valid",
        ),
        (
            '    start: {cron: "0 2 * *"}\n    tenants: [{tenant: a}]\n',
            "4: waves[0].start.cron: cron '0 2 * *' must have 5 fields",
        ),
        (
            '    start:\n      cron: "0 2 * * 6"\n      timezone: Europe/Atlantis\n    tenants: [{tenant: a}]\n',
            "6: waves[0].start.timezone: unknown time zone 'Europe/Atlantis'",
        ),
        (
            "    start: staged\n    window: 4 hours\n    tenants: [{tenant: a}]\n",
            "5: waves[0].window: '4 hours' is not a duration",
        ),
        (
            "    start: staged\n    tenants: [{tenant: a}]\n    colour: blue\n",
            "6: waves[0].colour: unknown key 'colour'",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: a\n        pre_workload: {resource_types: [flavors]}\n",
            "7: waves[0].tenants[0].pre_workload.resource_types[0]: 'flavors' is not one of",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: a\n        pre_workload:\n          filters: {servers: []}\n",
            "8: waves[0].tenants[0].pre_workload.filters.servers: unknown resource type 'servers'",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: a\n        servers:\n          - web-1\n          - 'regex:('\n",
            "9: waves[0].tenants[0].servers[1]: 'regex:(' does not compile: missing ), unterminated subpattern",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: a\n      - tenant: b\n      - tenant: a\n",
            "8: waves[0].tenants[2].tenant: tenant 'a' is already in this wave (tenants[0])",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: a\n        copy_method: conversion_host\n",
            "7: waves[0].tenants[0].copy_method: copy_method conversion_host needs src_host_conn_id and dst_host_conn_id",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: a\n        migration_params: {boot_disk_copy: maybe}\n",
            "7: waves[0].tenants[0].migration_params.boot_disk_copy: 'maybe' is not of type 'boolean'",
        ),
        (
            "    start: staged\n    tenants:\n      - tenant: ../etc\n",
            "6: waves[0].tenants[0].tenant: '../etc' does not match",
        ),
        (
            "    start: staged\n    tenants: [{tenant: a}]\n  - name: w-1\n    start: staged\n    tenants: [{tenant: a}]\n  - name: w1\n    start: staged\n    tenants: [{tenant: a}]\n",
            "9: waves[2].name: wave 'w1' repeats waves[0] (DAG id os_migrate_wave_w1)",
        ),
        (
            "    start: staged\n    tenants: [{tenant: a}]\n    tenants: [{tenant: b}]\n",
            "6: waves[0].tenants: duplicate key 'tenants'",
        ),
        ("    tenants: [{tenant: a}]\n", "3: waves[0]: 'start' is a required property"),
    ],
)
def test_each_error_names_file_line_and_path(tmp_path, body, expected):
    path = write(tmp_path, HEAD + body)
    errors = errors_of(path)
    assert any(e.startswith(f"{path}:{expected}") for e in errors), errors


def test_defaults_template_and_unknown_keys(tmp_path):
    path = write(
        tmp_path,
        """\
        version: 1
        defaults:
          src_conn_id: "src_{project}"
          dst_conn_id: "dst_{tenant"
          colour: blue
        waves:
          - {name: w, start: staged, tenants: [{tenant: a}]}
        """,
    )
    assert errors_of(path) == [
        f"{path}:3: defaults.src_conn_id: 'src_{{project}}': only {{tenant}} may be used in a template, not {{project}}",
        f"{path}:4: defaults.dst_conn_id: 'dst_{{tenant' is not a valid template: expected '}}' before end of string",
        f"{path}:5: defaults.colour: unknown key 'colour' (known: copy_method, create_dst_project, data_dir, "
        "dst_admin_conn_id, dst_conn_id, dst_host_conn_id, flavor_map, migration_params, pre_workload, servers, "
        "src_conn_id, src_host_conn_id, volumes)",
    ]


BAD_PLAN = """\
version: 2
waves:
  - name: Saturday
    start: "2026-12-05T02:00:00"
    end: "2026-12-05T06:00:00+01:00"
    on_preflight_failure: panic
    concurrency: {servers: 0}
    tenants:
      - tenant: a
        servers: ["regex:(", 3]
      - tenant: a
  - name: weekly
    start: {cron: "0 2 * * 6", timezone: Mars/Base}
    end: "2026-12-05T06:00:00+01:00"
    window: 0h
    tenants: []
"""


def test_every_error_is_reported_at_once_in_line_order(tmp_path):
    path = write(tmp_path, BAD_PLAN)
    errors = errors_of(path)
    located = [(int(e.split(":")[1]), e.split(": ")[1]) for e in errors]

    assert located == [
        (1, "version"),
        (3, "waves[0].name"),
        (4, "waves[0].start"),
        (6, "waves[0].on_preflight_failure"),
        (7, "waves[0].concurrency.servers"),
        (10, "waves[0].tenants[0].servers[1]"),
        (10, "waves[0].tenants[0].servers[0]"),
        (11, "waves[0].tenants[1].tenant"),
        (13, "waves[1].start.timezone"),
        (14, "waves[1].end"),
        (15, "waves[1].window"),
        (15, "waves[1].window"),
        (16, "waves[1].tenants"),
    ]
    assert all(e.startswith(f"{path}:") for e in errors)


def test_yaml_syntax_error_and_wrong_document(tmp_path):
    path = write(tmp_path, "version: 1\nwaves:\n  - name: [w\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:4: not valid YAML")
    path = write(tmp_path, "- just\n- a list\n")
    assert errors_of(path) == [
        f"{path}:1: <plan>: a wave plan must be a mapping with version and waves, got list"
    ]


# -- durations, cron ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("4h", 14400),
        ("2d", 172800),
        ("PT4H", 14400),
        ("P1DT2H30M", 95400),
        ("PT45S", 45),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["4", "4 h", "-1h", "0m", "PT", "P", "4w", "PT0S"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_duration_text():
    assert [duration_text(dt.timedelta(seconds=s)) for s in (45, 5400, 14400, 172800)] == [
        "45s",
        "90m",
        "4h",
        "2d",
    ]


def test_cron_checks():
    check_cron("*/15 2-4 * 1,6 sat")
    for bad in ("0 2 * * 6 2026", "0 2 * *", "0 2 31 2 8", "x y z * *"):
        with pytest.raises(ValueError):
            check_cron(bad)


# -- change windows ----------------------------------------------------------------------------


def wave_of(tmp_path, start_lines: str):
    text = f"version: 1\nwaves:\n  - name: w\n{start_lines}    tenants: [{{tenant: a}}]\n"
    return load_plan(write(tmp_path, text)).waves[0]


UTC = dt.UTC


def test_window_of_a_date_time_start(tmp_path):
    wave = wave_of(tmp_path, '    start: "2026-12-05T02:00:00+01:00"\n    end: "2026-12-05T06:00:00+01:00"\n')
    before = window_check(wave, dt.datetime(2026, 12, 5, 0, 59, tzinfo=UTC))
    inside = window_check(wave, dt.datetime(2026, 12, 5, 3, 0, tzinfo=UTC))
    after = window_check(wave, dt.datetime(2026, 12, 5, 5, 1, tzinfo=UTC))

    assert (before.open, inside.open, after.open) == (False, True, False)
    assert before.opens == inside.opens == dt.datetime(2026, 12, 5, 1, tzinfo=UTC)
    assert after.closes == dt.datetime(2026, 12, 5, 5, tzinfo=UTC)
    # times named in the wave's time zone
    assert before.reason == "wave w: window opens at 2026-12-05T02:00:00+01:00, now 2026-12-05T01:59:00+01:00"
    assert after.reason == "wave w: window closed at 2026-12-05T06:00:00+01:00, now 2026-12-05T06:01:00+01:00"
    assert (
        inside.reason == "wave w: window open since 2026-12-05T02:00:00+01:00 until 2026-12-05T06:00:00+01:00"
    )
    # the edges belong to the window
    assert window_check(wave, wave.start).open and window_check(wave, wave.end).open


def test_window_without_end_or_with_a_length(tmp_path):
    no_end = wave_of(tmp_path, '    start: "2026-12-05T02:00:00Z"\n')
    state = window_check(no_end, dt.datetime(2027, 1, 1, tzinfo=UTC))
    assert state.open and state.closes is None and state.reason.endswith("with no end")
    length = wave_of(tmp_path, '    start: "2026-12-05T02:00:00Z"\n    window: 30m\n')
    assert window_check(length, dt.datetime(2026, 12, 5, 2, 29, tzinfo=UTC)).open
    assert not window_check(length, dt.datetime(2026, 12, 5, 2, 31, tzinfo=UTC)).open


def test_cron_window_opens_at_the_tick_in_its_time_zone(tmp_path):
    wave = wave_of(tmp_path, '    start: {cron: "0 2 * * 6", timezone: Europe/Prague}\n    window: 4h\n')
    prague = zoneinfo.ZoneInfo("Europe/Prague")
    tick = dt.datetime(2026, 12, 5, 2, 0, tzinfo=prague)  # a Saturday, 01:00 UTC in winter

    state = window_check(wave, dt.datetime(2026, 12, 5, 3, 0, tzinfo=UTC), scheduled=tick)
    assert state.open and state.opens == tick and state.closes == tick + dt.timedelta(hours=4)
    late = window_check(wave, dt.datetime(2026, 12, 5, 5, 30, tzinfo=UTC), scheduled=tick)
    assert not late.open
    assert late.reason == "wave w: window closed at 2026-12-05T06:00:00+01:00, now 2026-12-05T06:30:00+01:00"
    # without the run's tick: the last tick at or before now, in the wave's zone (summer: UTC+2)
    summer = window_check(wave, dt.datetime(2026, 7, 4, 1, 30, tzinfo=UTC))
    assert summer.opens == dt.datetime(2026, 7, 4, 0, 0, tzinfo=UTC) and summer.open
    assert summer.reason.startswith(
        "wave w: window open since 2026-07-04T02:00:00+02:00 until 2026-07-04T06:00:00+02:00"
    )
    exactly = window_check(wave, tick)
    assert exactly.open and exactly.opens == tick


def test_staged_window_opens_when_the_run_starts(tmp_path):
    wave = wave_of(tmp_path, "    start: staged\n    window: 2h\n")
    started = dt.datetime(2026, 12, 5, 10, tzinfo=UTC)
    assert window_check(wave, started + dt.timedelta(hours=1), scheduled=started).open
    assert not window_check(wave, started + dt.timedelta(hours=3), scheduled=started).open
    now = window_check(wave, started)
    assert now.open and now.opens == started and now.closes == started + dt.timedelta(hours=2)


def test_window_check_refuses_naive_times(tmp_path):
    wave = wave_of(tmp_path, "    start: staged\n")
    with pytest.raises(ValueError, match="aware"):
        window_check(wave, dt.datetime(2026, 12, 5, 10))


# -- CLI ---------------------------------------------------------------------------------------


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_cli_validate(tmp_path):
    good, bad = write(tmp_path, PLAN, "good.yml"), write(tmp_path, BAD_PLAN, "bad.yml")

    assert run("wave", "validate", str(good)) == (0, f"{good}: valid (3 wave(s), 4 tenant run(s))\n", "")
    status, out, err = run("wave", "validate", str(bad))
    assert status == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "os-migrate: validation failed with 13 error(s):"
    assert lines[1] == f"  {bad}:1: version: expected 1, got 2"
    assert len(lines) == 14
    status, out, _ = run("-f", "json", "wave", "validate", str(bad))
    doc = json.loads(out)
    assert status == 1 and doc["valid"] is False and len(doc["errors"]) == 13
    status, out, err = run("wave", "validate", str(tmp_path / "missing.yml"))
    assert status == 2 and "missing.yml: no such wave plan file or directory" in err  # a usage error
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "a.yml").write_text(bad.read_text())
    status, out, err = run("wave", "validate", str(plans))  # a directory, as the DAG file reads it
    assert status == 1 and "a.yml:" in err
    assert run("wave", "validate")[0] == 2


def test_cli_show(tmp_path):
    path = write(tmp_path, PLAN)
    status, out, err = run("wave", "show", str(path))
    assert status == 0 and err == ""
    assert out.splitlines()[:9] == [
        "wave saturday-a (DAG os_migrate_wave_saturday_a)",
        "  schedule     2026-12-05T02:00:00+01:00",
        "  window       until 2026-12-05T06:00:00+01:00",
        "  approval     no",
        "  pre-flight   skip (skip failing servers)",
        "  concurrency  8 server(s) at once, 2 copies per host pair",
        "  tenant    pre-workload  servers",
        "  tenant-a  2 type(s)     web-1, regex:^db-, regex:^app-; volumes: shared-data",
        "  tenant-b  no            /^app/",
    ]
    assert "  schedule     cron 0 2 * * 6 (Europe/Prague)" in out
    assert "  window       4h from the start of each run" in out
    assert "  tenant-c  10 type(s)    (none)" in out

    status, out, _ = run("wave", "show", str(path), "-f", "json")
    doc = json.loads(out)
    assert status == 0 and doc == json.loads(json.dumps(load_plan(path).to_dict()))
    tenant_b = doc["waves"][0]["tenants"][1]
    assert tenant_b["pre_workload_conf"] is None and tenant_b["workloads_conf"]["servers"] == ["/^app/"]
