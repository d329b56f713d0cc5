"""The migration report: built from step results, rendered as JSON, HTML (inline SVG) and a table."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from os_migrate.exceptions import DataError
from os_migrate.report import (
    build_report,
    format_table,
    load_report,
    merge_reports,
    render_html,
    safe_stem,
    write_report,
)


def steps(start_minute: int, error: str | None = None) -> dict:
    out = {}
    for i, name in enumerate(("prepare", "copy_disks", "create_server", "finalize")):
        out[name] = {
            "started_at": f"2026-12-03T10:{start_minute + i:02d}:00.000+00:00",
            "finished_at": f"2026-12-03T10:{start_minute + i:02d}:30.000+00:00",
            "seconds": 30.0,
        }
    if error:
        out["copy_disks"]["error"] = error
    return out


PREFLIGHT = {
    "servers": ["<b>web</b>", "db-1", "db-2", "old"],
    "migrate": ["<b>web</b>", "db-1"],
    "skip": [
        {
            "server": "db-2",
            "reason": "pre-flight: params.flavor: flavor 'm1.gone' not found in the destination",
            "preflight": True,
            "problems": ["params.flavor: flavor 'm1.gone' not found in the destination"],
        }
    ],
    "done": ["old"],
    "run": ["<b>web</b>", "db-1", "old"],
    "flavors": {"<b>web</b>": {"destination": "m1.small"}},
    "warnings": ["server 'db-1': NIC 0 has 2 fixed IPs"],
    "needs": {"instances": 2},
    "on_failure": "skip",
}
WEB = {
    "server": "<b>web</b>",
    "result": "migrated",
    "destination_id": "d-1",
    "steps": steps(0),
    "disks": [{"volume_id": "v-1", "size": 1, "bytes": 2_000_000, "seconds": 2.0, "mb_per_s": 1.0}],
    "downtime_s": 95.5,
    "downtime_note": None,
    "source_stopped_at": "2026-12-03T10:00:10+00:00",
    "destination_active_at": "2026-12-03T10:01:45.5+00:00",
}
DB1 = {
    "server": "db-1",
    "result": "rolled_back",
    "steps": steps(2, "CopyError: upload failed"),
    "errors": ["copy_disks: CopyError: upload failed"],
}
OLD = {
    "server": "old",
    "result": "migrated",
    "destination_id": "d-0",
    "disks": [{"bytes": 7, "seconds": 1}],
    "steps": steps(20),
}
IMPORT = {
    "dry_run": False,
    "counts": {"create": 1, "unchanged": 1},
    "actions": [{"type": "networks", "name": "app-net", "action": "create"}],
}


@pytest.fixture
def report():
    return build_report(
        "acme",
        "sat-a",
        "manual__2026-12-03T10:00:00+00:00",
        IMPORT,
        PREFLIGHT,
        [WEB, DB1, OLD, None],
        [
            {
                "volume": "archive",
                "result": "migrated",
                "destination_id": "dv",
                "copy": {"size": 2, "bytes": 3_000_000, "seconds": 3.0},
            },
            {"volume": "scratch", "result": "failed", "error": "quota"},
        ],
    )


def test_every_server_has_a_status_and_a_reason(report):
    by_name = {s["server"]: s for s in report["servers"]}
    assert [s["server"] for s in report["servers"]] == PREFLIGHT["servers"]
    assert by_name["<b>web</b>"]["status"] == "migrated" and by_name["<b>web</b>"]["bytes"] == 2_000_000
    assert by_name["<b>web</b>"]["mb_per_s"] == 1.0 and by_name["<b>web</b>"]["downtime_s"] == 95.5
    assert by_name["<b>web</b>"]["flavor"] == "m1.small"
    assert by_name["db-1"]["status"] == "failed" and "upload failed" in by_name["db-1"]["reason"]
    assert by_name["db-2"]["status"] == "skipped" and "m1.gone" in by_name["db-2"]["reason"]
    assert by_name["db-2"]["problems"] == PREFLIGHT["skip"][0]["problems"]
    assert by_name["old"]["status"] == "migrated" and "earlier run" in by_name["old"]["reason"]
    # an earlier run's figures are not this run's
    assert (by_name["old"]["bytes"], by_name["old"]["steps"], by_name["old"]["destination_id"]) == (
        0,
        {},
        "d-0",
    )
    assert all(s["tenant"] == "acme" for s in report["servers"])


def test_totals_resources_and_the_failed_flag(report):
    t = report["totals"]
    assert (t["servers_migrated"], t["servers_skipped"], t["servers_failed"]) == (2, 1, 1)
    assert (t["volumes_migrated"], t["volumes_failed"]) == (1, 1)
    assert t["bytes"] == 5_000_000 and t["mb_per_s"] == 1.0 and t["downtime_s_max"] == 95.5
    assert report["resources"]["by_type"] == {"networks": {"create": 1}}
    assert report["failed"] is True
    assert report["started_at"] == "2026-12-03T10:00:00.000+00:00"
    assert report["finished_at"] == "2026-12-03T10:05:30.000+00:00"
    json.dumps(report)  # JSON-able


def test_plan_files_give_every_resource_with_its_action(tmp_path):
    plan = tmp_path / "plans" / "networks.yml"
    plan.parent.mkdir()
    plan.write_text(
        yaml.safe_dump(
            {
                "actions": [
                    {"type": "networks", "name": "a", "action": "unchanged"},
                    {"type": "networks", "name": "b", "action": "create"},
                ]
            }
        )
    )

    rep = build_report("acme", None, "r", {"plan_files": {"networks": str(plan)}}, {"servers": []}, [])

    assert [(i["name"], i["action"]) for i in rep["resources"]["items"]] == [
        ("a", "unchanged"),
        ("b", "create"),
    ]
    assert rep["resources"]["counts"] == {"unchanged": 1, "create": 1}
    assert rep["failed"] is False


def test_html_escapes_every_name_and_draws_an_svg_timeline(report):
    page = render_html(report)

    assert "<b>web</b>" not in page and "&lt;b&gt;web&lt;/b&gt;" in page
    assert "<svg" in page and page.count("<rect") >= 8  # 2 servers x 4 steps (+ legend)
    assert 'stroke="#cf222e"' in page  # the failed step is outlined
    assert "<script" not in page and not re.search(r"(src|href)=\"?https?:", page)


def test_the_table_lists_servers_volumes_and_totals(report):
    table = format_table(report)

    assert re.search(r"db-2\s+skipped\s+0 B\s+-\s+-.*m1\.gone", table)
    assert re.search(r"<b>web</b>\s+migrated\s+1\.9 MiB\s+1\.0\s+95\.5 s\s+30\.0 s", table)
    assert "archive" in table and "networks" in table and table.endswith("FAILED")


def test_write_and_load_round_trip_and_a_bad_stem_is_refused(report, tmp_path):
    stem = safe_stem("os_migrate_workloads", "manual__2026-12-03T10:00:00+00:00")
    assert stem == "os_migrate_workloads__manual__2026-12-03T10_00_00_00_00"

    json_path, html_path = write_report(report, tmp_path / "reports", stem)

    assert load_report(json_path)["servers"] == report["servers"]
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError):
        write_report(report, tmp_path, "../evil")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match="not a migration report"):
        load_report(tmp_path / "x.json")


def test_merge_keeps_every_tenant_row(report):
    other = build_report(
        "beta",
        "sat-a",
        "r2",
        None,
        {"servers": ["b1"], "migrate": ["b1"], "run": ["b1"]},
        [{"server": "b1", "result": "migrated", "steps": steps(7)}],
    )

    wave = merge_reports([report, other], wave="sat-a", run_id="w1")

    assert wave["kind"] == "wave" and [t["tenant"] for t in wave["tenants"]] == ["acme", "beta"]
    assert [(s["tenant"], s["server"]) for s in wave["servers"]][-1] == ("beta", "b1")
    assert wave["totals"]["servers_migrated"] == 3 and wave["failed"] is True
    assert "TENANT" in format_table(wave) and "acme/&lt;b&gt;web&lt;/b&gt;" in render_html(wave)


def test_the_cli_prints_the_table_and_exits_1_for_a_failed_run(report, tmp_path):
    import io

    from os_migrate.cli import main

    json_path, _ = write_report(report, tmp_path, "r")
    out, err = io.StringIO(), io.StringIO()

    assert main(["report", str(json_path)], out=out, err=err) == 1
    assert out.getvalue().strip() == format_table(report)
    assert main(["report", str(tmp_path / "missing.json")], out=out, err=err) == 1
    assert "cannot read the report" in err.getvalue()
