"""The migration report: one JSON document and one HTML page per tenant run, merged per wave.

Pure Python (never imports Airflow)::

    build_report(tenant, wave, run_id, pre_workload, preflight, servers, volumes) -> report
    merge_reports([report, ...], wave=..., run_id=...)                           -> wave report
    render_html(report)                 -> a self-contained page (inline CSS and SVG, no script)
    write_report(report, directory, stem) -> (<stem>.json, <stem>.html), each written atomically
    format_table(report)                -> the text table ``os-migrate report FILE.json`` prints
    load_report(path)                   -> report

A report (``report_version`` 1) holds:

- ``resources``: every pre-workload resource with its action (``create``, ``update``,
  ``unchanged``, ``skip``...) and the counts per type and action;
- ``servers``: every selected server with ``status`` ``migrated``, ``skipped`` or ``failed`` and
  why (``reason``), bytes copied, MB/s, downtime (destination ACTIVE minus source stop), the
  start, end and seconds of each step, its disks and errors;
- ``volumes``: every detached volume with its status, size, bytes and MB/s;
- ``totals`` and ``failed`` (True when a server or volume failed).

Times are UTC ISO 8601 strings; sizes in GiB; bytes in bytes; rates in MB/s (10^6 bytes).
Reports never hold credentials: they are built from step results, which hold none.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from os_migrate.exceptions import DataError
from os_migrate.serialization import atomic_write_text

#: Version of the report document.
REPORT_VERSION = 1
#: Statuses of a server or volume in a report.
MIGRATED, SKIPPED, FAILED = "migrated", "skipped", "failed"
#: Server steps, in order (as :data:`os_migrate.workload.migrate.STEPS`).
STEPS = ("prepare", "copy_disks", "create_server", "finalize")
#: Bar colours of the steps in the timeline.
STEP_COLOURS = {
    "prepare": "#8da0cb",
    "copy_disks": "#66c2a5",
    "create_server": "#fc8d62",
    "finalize": "#a6a6a6",
}


# -- building ---------------------------------------------------------------------------------------


def resource_actions(pre_workload: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[dict]:
    """Every resource of the pre-workload import results with its action.

    :param pre_workload: an ``import_resources`` result, a list of them, or None. A result with
        ``plan_files`` is read from those files (they list every resource, ``unchanged`` ones
        too); otherwise its ``actions`` are used.
    :returns: ``[{"type", "name", "action", "changes"?}, ...]`` in import order.
    :raises DataError: a plan file cannot be read.
    """
    if not pre_workload:
        return []
    results = [pre_workload] if isinstance(pre_workload, Mapping) else list(pre_workload)
    out: list[dict] = []
    for result in results:
        if not result:
            continue
        files = result.get("plan_files") or {}
        if files:
            for type_key, path in files.items():
                try:
                    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
                except (OSError, yaml.YAMLError) as e:
                    raise DataError(f"cannot read the plan of {type_key}: {e}", file=str(path)) from e
                out.extend(_action(a) for a in doc.get("actions") or [])
        else:
            out.extend(_action(a) for a in result.get("actions") or [])
    return out


def _action(a: Mapping[str, Any]) -> dict:
    entry = {
        "type": str(a.get("type", "")),
        "name": str(a.get("name", "")),
        "action": str(a.get("action", "")),
    }
    if a.get("changes"):
        entry["changes"] = a["changes"]
    return entry


def build_report(
    tenant: str,
    wave: str | None,
    run_id: str,
    pre_workload: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    preflight: Mapping[str, Any] | None,
    servers: Iterable[Mapping[str, Any] | None],
    volumes: Iterable[Mapping[str, Any] | None] = (),
) -> dict[str, Any]:
    """The report of one tenant's run (see the module docstring for its shape).

    :param tenant: the tenant's name.
    :param wave: the wave's name, or None for a run outside a wave.
    :param run_id: the run (Airflow run id, or any label).
    :param pre_workload: import results of the pre-workload types (see :func:`resource_actions`).
    :param preflight: the pre-flight report (``servers``, ``migrate``, ``skip``, ``done``,
        ``flavors``, ``warnings``, ``run``); None when pre-flight did not pass.
    :param servers: finalize results of the servers (``{"server", "result", ...}`` with the
        timings of :func:`os_migrate.workload.migrate.timing_summary`), or for a failed server
        :func:`~os_migrate.workload.migrate.recorded_outcome` plus ``error``; None entries are
        ignored. A server pre-flight let run without a result is failed.
    :param volumes: ``migrate_volume`` results (``{"volume", "result", "copy"?, "reason"?,
        "error"?}``); None entries are ignored.
    :returns: the report, JSON-able.
    """
    pf = dict(preflight or {})
    results = {r["server"]: r for r in servers if r and r.get("server")}
    selected = list(pf.get("servers") or [])
    order = selected + [n for n in results if n not in selected]
    dry_run = bool(preflight) and "run" in pf and not pf["run"] and bool(pf.get("migrate"))
    run = set(pf.get("run", selected))
    skips = {s["server"]: s for s in pf.get("skip", [])}
    done = set(pf.get("done", []))
    flavors = pf.get("flavors") or {}
    rows = [
        _server_row(name, results.get(name), skips.get(name), name in done, name in run, dry_run, flavors)
        for name in order
    ]
    vols = [_volume_row(v) for v in volumes if v and v.get("volume")]
    resources = resource_actions(pre_workload)
    for row in (*rows, *vols, *resources):
        row["tenant"] = tenant
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "kind": "tenant",
        "tenant": tenant,
        "wave": wave,
        "run_id": run_id,
        "generated_at": _now(),
        "dry_run": dry_run,
        "preflight": {
            "passed": preflight is not None,
            "on_failure": pf.get("on_failure"),
            "warnings": list(pf.get("warnings") or []),
            "needs": dict(pf.get("needs") or {}),
        },
        "resources": _resource_section(resources),
        "servers": rows,
        "volumes": vols,
    }
    report.update(_span(rows))
    report["totals"] = _totals(rows, vols, report["resources"])
    report["failed"] = preflight is None or bool(
        report["totals"]["servers_failed"] or report["totals"]["volumes_failed"]
    )
    return report


def _server_row(
    name: str,
    result: Mapping[str, Any] | None,
    skip: Mapping[str, Any] | None,
    done: bool,
    ran: bool,
    dry_run: bool,
    flavors: Mapping[str, Any],
) -> dict[str, Any]:
    r = dict(result or {})
    outcome = r.get("result")
    if outcome == "migrated":
        status = MIGRATED
        reason = "already migrated by an earlier run; nothing copied" if done else ""
    elif outcome == "skipped":
        status, reason = SKIPPED, str(r.get("reason") or (skip or {}).get("reason") or "")
    elif skip is not None and (skip.get("preflight") or not ran):
        status, reason = SKIPPED, str(skip.get("reason") or "")
    elif not result and done:
        status, reason = MIGRATED, "already migrated by an earlier run; nothing copied"
    elif not result and dry_run:
        status, reason = SKIPPED, "dry run: pre-flight only"
    elif not result and not ran:
        status, reason = SKIPPED, "not run"
    else:
        status = FAILED
        errors = [str(e) for e in r.get("errors") or []]
        reason = str(
            r.get("error") or "; ".join(errors) or "no result: the migration failed (see its tasks' logs)"
        )
    if done:  # the figures in its state are the earlier run's
        r = {k: v for k, v in r.items() if k in ("server", "result", "destination_id")}
    disks = [dict(d) for d in r.get("disks") or r.get("copies") or []]
    nbytes = sum(int(d.get("bytes") or 0) for d in disks)
    seconds = round(sum(float(d.get("seconds") or 0) for d in disks), 3)
    steps = {k: dict(v) for k, v in (r.get("steps") or {}).items() if k in STEPS}
    errors = [str(e) for e in r.get("errors") or []]
    if status == FAILED and r.get("error") and str(r["error"]) not in errors:
        errors.append(str(r["error"]))
    return {
        "server": name,
        "status": status,
        "reason": reason,
        "destination_id": r.get("destination_id"),
        "flavor": (flavors.get(name) or {}).get("destination"),
        "bytes": nbytes,
        "copy_seconds": seconds,
        "mb_per_s": _rate(nbytes, seconds),
        "source_stopped_at": r.get("source_stopped_at"),
        "source_found_off_at": r.get("source_found_off_at"),
        "destination_active_at": r.get("destination_active_at"),
        "downtime_s": r.get("downtime_s"),
        "downtime_note": r.get("downtime_note"),
        "steps": steps,
        "disks": disks,
        "errors": errors,
        "problems": list((skip or {}).get("problems") or []) if status == SKIPPED else [],
    }


def _volume_row(v: Mapping[str, Any]) -> dict[str, Any]:
    outcome = v.get("result")
    copy = dict(v.get("copy") or {})
    if outcome in ("migrated", "done"):
        status = MIGRATED
        reason = "already migrated by an earlier run; nothing copied" if outcome == "done" else ""
    elif outcome == "skipped":
        status, reason = SKIPPED, str(v.get("reason") or "")
    else:
        status, reason = FAILED, str(v.get("error") or v.get("reason") or "failed")
    nbytes, seconds = int(copy.get("bytes") or 0), float(copy.get("seconds") or 0)
    return {
        "volume": v["volume"],
        "status": status,
        "reason": reason,
        "destination_id": v.get("destination_id") or copy.get("volume_id"),
        "size": copy.get("size"),
        "bytes": nbytes,
        "copy_seconds": round(seconds, 3),
        "mb_per_s": _rate(nbytes, seconds),
    }


def _resource_section(items: list[dict]) -> dict[str, Any]:
    by_type: dict[str, Counter[str]] = {}
    for item in items:
        by_type.setdefault(item["type"], Counter())[item["action"]] += 1
    return {
        "counts": dict(sum(by_type.values(), Counter())),
        "by_type": {t: dict(c) for t, c in by_type.items()},
        "items": items,
    }


def _span(rows: list[dict]) -> dict[str, str | None]:
    times = [
        t
        for row in rows
        for step in row["steps"].values()
        for t in (step.get("started_at"), step.get("finished_at"))
        if t
    ]
    return {
        "started_at": min(times, key=_ts) if times else None,
        "finished_at": max(times, key=_ts) if times else None,
    }


def _totals(rows: list[dict], vols: list[dict], resources: Mapping[str, Any]) -> dict[str, Any]:
    statuses = Counter(r["status"] for r in rows)
    vstatuses = Counter(v["status"] for v in vols)
    nbytes = sum(r["bytes"] for r in rows) + sum(v["bytes"] for v in vols)
    seconds = sum(r["copy_seconds"] for r in rows) + sum(v["copy_seconds"] for v in vols)
    downtimes = [
        float(r["downtime_s"]) for r in rows if r["status"] == MIGRATED and r.get("downtime_s") is not None
    ]
    return {
        "servers": len(rows),
        "servers_migrated": statuses[MIGRATED],
        "servers_skipped": statuses[SKIPPED],
        "servers_failed": statuses[FAILED],
        "volumes": len(vols),
        "volumes_migrated": vstatuses[MIGRATED],
        "volumes_skipped": vstatuses[SKIPPED],
        "volumes_failed": vstatuses[FAILED],
        "resources": dict(resources.get("counts") or {}),
        "bytes": nbytes,
        "copy_seconds": round(seconds, 3),
        "mb_per_s": _rate(nbytes, seconds),
        "downtime_s_max": max(downtimes) if downtimes else None,
        "downtime_s_mean": round(sum(downtimes) / len(downtimes), 3) if downtimes else None,
    }


def merge_reports(
    reports: Iterable[Mapping[str, Any]], *, wave: str | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """The report of a wave: the tenants' reports side by side (rows keep their ``tenant``).

    :param reports: tenant reports (:func:`build_report`).
    :param wave: the wave's name (default: the first report's).
    :param run_id: the wave's run (default: the first report's).
    :returns: a report of ``kind`` ``wave`` with ``tenants``: ``[{"tenant", "run_id", "failed",
        "totals"}]`` and every server, volume and resource of them.
    """
    reports = list(reports)
    first = reports[0] if reports else {}
    rows = [dict(r) for rep in reports for r in rep.get("servers", [])]
    vols = [dict(v) for rep in reports for v in rep.get("volumes", [])]
    items = [dict(i) for rep in reports for i in rep.get("resources", {}).get("items", [])]
    resources = _resource_section(items)
    merged: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "kind": "wave",
        "tenant": None,
        "wave": wave if wave is not None else first.get("wave"),
        "run_id": run_id if run_id is not None else first.get("run_id"),
        "generated_at": _now(),
        "dry_run": bool(reports) and all(rep.get("dry_run") for rep in reports),
        "tenants": [
            {
                "tenant": rep.get("tenant"),
                "run_id": rep.get("run_id"),
                "failed": bool(rep.get("failed")),
                "totals": rep.get("totals"),
            }
            for rep in reports
        ],
        "preflight": {
            "passed": all(rep.get("preflight", {}).get("passed", True) for rep in reports),
            "warnings": [
                f"{rep.get('tenant')}: {w}"
                for rep in reports
                for w in rep.get("preflight", {}).get("warnings", [])
            ],
        },
        "resources": resources,
        "servers": rows,
        "volumes": vols,
    }
    merged.update(_span(rows))
    merged["totals"] = _totals(rows, vols, resources)
    merged["failed"] = any(rep.get("failed") for rep in reports)
    return merged


# -- files ------------------------------------------------------------------------------------------


def safe_stem(*parts: str) -> str:
    """A file stem from ``parts`` (joined by ``__``), with every character but letters, digits,
    ``.``, ``_`` and ``-`` replaced by ``_`` (Airflow run ids hold ``:`` and ``+``)."""
    stem = "__".join(re.sub(r"[^A-Za-z0-9._-]+", "_", p) for p in parts)
    return stem.lstrip(".") or "report"


def write_report(report: Mapping[str, Any], directory: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``<directory>/<stem>.json`` and ``<stem>.html``, each atomically.

    :returns: the two paths.
    :raises ValueError: ``stem`` is not a plain file stem (see :func:`safe_stem`).
    :raises OSError: the directory cannot be written.
    """
    if stem != safe_stem(stem):
        raise ValueError(f"report file stem {stem!r} must hold only letters, digits, '.', '_' and '-'")
    directory = Path(directory)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    atomic_write_text(json_path, json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    atomic_write_text(html_path, render_html(report))
    return json_path, html_path


def load_report(path: str | Path) -> dict[str, Any]:
    """A report written by :func:`write_report`.

    :raises DataError: the file is missing, not JSON, or not a report.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the report: {e}", file=str(path)) from e
    if not isinstance(doc, dict) or doc.get("report_version") != REPORT_VERSION:
        raise DataError(f"not a migration report (report_version {REPORT_VERSION} expected)", file=str(path))
    return doc


# -- text -------------------------------------------------------------------------------------------


def format_table(report: Mapping[str, Any]) -> str:
    """The report as text tables: servers, volumes, resources per type, totals."""
    head = f"{report.get('kind', 'tenant')} report"
    for key in ("wave", "tenant", "run_id"):
        if report.get(key):
            head += f"  {key} {report[key]}"
    lines = [head]
    if report.get("started_at"):
        lines.append(f"from {report['started_at']} to {report.get('finished_at')}")
    wave = report.get("kind") == "wave"
    rows = [
        [
            *([r.get("tenant") or ""] if wave else []),
            r["server"],
            r["status"],
            _bytes(r.get("bytes")),
            _num(r.get("mb_per_s")),
            _secs(r.get("downtime_s")),
            *(_secs((r.get("steps") or {}).get(s, {}).get("seconds")) for s in STEPS),
            r.get("reason") or "",
        ]
        for r in report.get("servers", [])
    ]
    lines += [
        "",
        *_table(
            [
                *(["TENANT"] if wave else []),
                "SERVER",
                "STATUS",
                "BYTES",
                "MB/S",
                "DOWNTIME",
                "PREPARE",
                "COPY",
                "CREATE",
                "FINALIZE",
                "REASON",
            ],
            rows,
        ),
    ]
    if report.get("volumes"):
        vrows = [
            [
                *([v.get("tenant") or ""] if wave else []),
                v["volume"],
                v["status"],
                f"{v.get('size') or '-'} GiB",
                _bytes(v.get("bytes")),
                _num(v.get("mb_per_s")),
                v.get("reason") or "",
            ]
            for v in report["volumes"]
        ]
        lines += [
            "",
            *_table(
                [*(["TENANT"] if wave else []), "VOLUME", "STATUS", "SIZE", "BYTES", "MB/S", "REASON"], vrows
            ),
        ]
    by_type = report.get("resources", {}).get("by_type") or {}
    if by_type:
        actions = sorted({a for c in by_type.values() for a in c})
        lines += [
            "",
            *_table(
                ["TYPE", *(a.upper() for a in actions)],
                [[t, *(str(c.get(a, 0)) for a in actions)] for t, c in by_type.items()],
            ),
        ]
    t = report.get("totals") or {}
    lines += [
        "",
        f"servers: {t.get('servers_migrated', 0)} migrated, {t.get('servers_skipped', 0)} skipped, "
        f"{t.get('servers_failed', 0)} failed; volumes: {t.get('volumes_migrated', 0)} migrated, "
        f"{t.get('volumes_skipped', 0)} skipped, {t.get('volumes_failed', 0)} failed",
        f"copied {_bytes(t.get('bytes'))} in {_secs(t.get('copy_seconds'))} ({_num(t.get('mb_per_s'))} MB/s); "
        f"downtime max {_secs(t.get('downtime_s_max'))}, mean {_secs(t.get('downtime_s_mean'))}",
    ]
    if report.get("failed"):
        lines.append("FAILED")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [fmt(header), *(fmt(r) for r in rows)] if rows else [fmt(header), "(none)"]


# -- HTML -------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.migrated{color:#1a7f37}.skipped{color:#9a6700}.failed{color:#cf222e;font-weight:bold}
.note{color:#666;font-size:.85em}ul{margin:.2em 0;padding-left:1.2em}
"""


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: every value escaped, an inline SVG timeline,
    no script and no external URL."""
    e = _esc
    title = f"os-migrate {report.get('kind', 'tenant')} report"
    sub = " · ".join(f"{k} {report[k]}" for k in ("wave", "tenant", "run_id") if report.get(k))
    t = report.get("totals") or {}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)} {e(sub)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1><p>{e(sub)}</p>",
        f'<p class="note">generated {e(report.get("generated_at"))}; run from {e(report.get("started_at") or "-")} '
        f"to {e(report.get('finished_at') or '-')}</p>",
    ]
    if report.get("failed"):
        out.append('<p class="failed">Some servers or volumes failed.</p>')
    out.append("<h2>Totals</h2><table>")
    for label, value in (
        (
            "servers migrated / skipped / failed",
            f"{t.get('servers_migrated', 0)} / {t.get('servers_skipped', 0)} / {t.get('servers_failed', 0)}",
        ),
        (
            "volumes migrated / skipped / failed",
            f"{t.get('volumes_migrated', 0)} / {t.get('volumes_skipped', 0)} / {t.get('volumes_failed', 0)}",
        ),
        ("bytes copied", f"{_bytes(t.get('bytes'))} ({t.get('bytes', 0)} bytes)"),
        ("copy rate", f"{_num(t.get('mb_per_s'))} MB/s over {_secs(t.get('copy_seconds'))}"),
        ("downtime max / mean", f"{_secs(t.get('downtime_s_max'))} / {_secs(t.get('downtime_s_mean'))}"),
        ("resources", ", ".join(f"{k} {v}" for k, v in (t.get("resources") or {}).items()) or "-"),
    ):
        out.append(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>")
    out.append("</table>")
    if report.get("tenants"):
        out.append(
            "<h2>Tenants</h2><table><tr><th>tenant</th><th>run</th><th>migrated</th><th>skipped</th><th>failed</th></tr>"
        )
        for ten in report["tenants"]:
            tt = ten.get("totals") or {}
            out.append(
                f"<tr><td>{e(ten.get('tenant'))}</td><td>{e(ten.get('run_id'))}</td><td class=n>{e(tt.get('servers_migrated', 0))}</td>"
                f"<td class=n>{e(tt.get('servers_skipped', 0))}</td><td class=n>{e(tt.get('servers_failed', 0))}</td></tr>"
            )
        out.append("</table>")
    servers = report.get("servers") or []
    out.append("<h2>Timeline</h2>")
    out.append(timeline_svg(servers))
    wave = report.get("kind") == "wave"
    out.append("<h2>Servers</h2><table><tr>" + ("<th>tenant</th>" if wave else ""))
    out.append(
        "<th>server</th><th>status</th><th>reason / errors</th><th>flavor</th><th>bytes</th><th>MB/s</th>"
        "<th>downtime</th>" + "".join(f"<th>{e(s)}</th>" for s in STEPS) + "<th>disks</th></tr>"
    )
    for r in servers:
        steps = r.get("steps") or {}
        reasons = [r.get("reason")] if r.get("reason") else []
        details = [*r.get("problems", []), *(x for x in r.get("errors", []) if x not in reasons)]
        notes = f'<div class="note">{e(r["downtime_note"])}</div>' if r.get("downtime_note") else ""
        out.append(
            "<tr>"
            + (f"<td>{e(r.get('tenant'))}</td>" if wave else "")
            + f'<td>{e(r["server"])}</td><td class="{e(r["status"])}">{e(r["status"])}</td>'
            f"<td>{e('; '.join(reasons))}{_ul(details)}</td><td>{e(r.get('flavor') or '')}</td>"
            f"<td class=n>{e(_bytes(r.get('bytes')))}</td><td class=n>{e(_num(r.get('mb_per_s')))}</td>"
            f"<td class=n>{e(_secs(r.get('downtime_s')))}{notes}</td>"
            + "".join(f"<td class=n>{e(_secs((steps.get(s) or {}).get('seconds')))}</td>" for s in STEPS)
            + f"<td>{_ul([_disk_line(d) for d in r.get('disks', [])])}</td></tr>"
        )
    out.append("</table>")
    if report.get("volumes"):
        out.append("<h2>Detached volumes</h2><table><tr>" + ("<th>tenant</th>" if wave else ""))
        out.append(
            "<th>volume</th><th>status</th><th>reason</th><th>size</th><th>bytes</th><th>MB/s</th></tr>"
        )
        for v in report["volumes"]:
            out.append(
                "<tr>"
                + (f"<td>{e(v.get('tenant'))}</td>" if wave else "")
                + f'<td>{e(v["volume"])}</td><td class="{e(v["status"])}">{e(v["status"])}</td><td>{e(v.get("reason"))}</td>'
                f"<td class=n>{e(v.get('size') if v.get('size') is not None else '-')} GiB</td>"
                f"<td class=n>{e(_bytes(v.get('bytes')))}</td><td class=n>{e(_num(v.get('mb_per_s')))}</td></tr>"
            )
        out.append("</table>")
    res = report.get("resources") or {}
    out.append("<h2>Resources</h2>")
    if res.get("items"):
        actions = sorted({a for c in res.get("by_type", {}).values() for a in c})
        out.append("<table><tr><th>type</th>" + "".join(f"<th>{e(a)}</th>" for a in actions) + "</tr>")
        for type_key, counts in res.get("by_type", {}).items():
            out.append(
                f"<tr><td>{e(type_key)}</td>"
                + "".join(f"<td class=n>{e(counts.get(a, 0))}</td>" for a in actions)
                + "</tr>"
            )
        out.append(
            "</table><details><summary>every resource</summary><table><tr>"
            + ("<th>tenant</th>" if wave else "")
        )
        out.append("<th>type</th><th>name</th><th>action</th><th>changes</th></tr>")
        for item in res["items"]:
            changes = json.dumps(item["changes"], sort_keys=True, default=str) if item.get("changes") else ""
            out.append(
                "<tr>"
                + (f"<td>{e(item.get('tenant'))}</td>" if wave else "")
                + f"<td>{e(item['type'])}</td><td>{e(item['name'])}</td><td>{e(item['action'])}</td><td>{e(changes)}</td></tr>"
            )
        out.append("</table></details>")
    else:
        out.append("<p>No pre-workload import in this run.</p>")
    warnings = (report.get("preflight") or {}).get("warnings") or []
    if warnings:
        out.append(f"<h2>Pre-flight warnings</h2>{_ul(warnings)}")
    out.append("</body></html>\n")
    return "\n".join(out)


def timeline_svg(servers: Sequence[Mapping[str, Any]], *, width: int = 960) -> str:
    """An inline SVG chart: one row per server with a step, one bar per step on a shared time
    axis (UTC), a failed step outlined in red; a note when no step has a time."""
    rows = [r for r in servers if r.get("steps")]
    times = [
        _ts(t)
        for r in rows
        for s in r["steps"].values()
        for t in (s.get("started_at"), s.get("finished_at"))
        if t
    ]
    if not times:
        return '<p class="note">No step ran, so there is no timeline.</p>'
    t0, t1 = min(times), max(times)
    span = max(t1 - t0, 1.0)
    label_w, row_h, top = 200, 22, 24
    plot_w = width - label_w - 20
    height = top + row_h * len(rows) + 40
    x = lambda t: label_w + (t - t0) / span * plot_w  # noqa: E731
    e = _esc
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline of the server steps" '
        'font-family="sans-serif" font-size="12">'
    ]
    for i in range(6):
        tx = label_w + plot_w * i / 5
        when = datetime.fromtimestamp(t0 + span * i / 5, UTC).strftime("%H:%M:%S")
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{top + row_h * len(rows)}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{tx:.1f}" y="{top - 10}" text-anchor="middle" fill="#555">{e(when)}</text>')
    for n, r in enumerate(rows):
        y = top + n * row_h
        label = (
            f"{r['tenant']}/{r['server']}"
            if r.get("tenant") and len({s.get("tenant") for s in rows}) > 1
            else r["server"]
        )
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{e(label)}</text>')
        for step in STEPS:
            s = r["steps"].get(step)
            if not s or not s.get("started_at"):
                continue
            a = _ts(s["started_at"])
            b = _ts(s.get("finished_at") or s["started_at"])
            bx, bw = x(a), max(x(b) - x(a), 1.5)
            stroke = ' stroke="#cf222e" stroke-width="2"' if s.get("error") else ""
            tip = f"{r['server']} {step}: {s['started_at']} -> {s.get('finished_at')} ({_secs(s.get('seconds'))})"
            if s.get("error"):
                tip += f" error: {s['error']}"
            parts.append(
                f'<rect x="{bx:.1f}" y="{y + 3}" width="{bw:.1f}" height="{row_h - 6}" '
                f'fill="{STEP_COLOURS[step]}"{stroke}><title>{e(tip)}</title></rect>'
            )
    ly = top + row_h * len(rows) + 24
    for i, step in enumerate(STEPS):
        lx = label_w + i * 140
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{STEP_COLOURS[step]}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly}">{e(step)}</text>')
    parts.append(
        f'<text x="{label_w + plot_w}" y="{ly}" text-anchor="end" fill="#555">UTC, {e(_secs(t1 - t0))} in all</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


# -- helpers ----------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _ul(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in items) + "</ul>" if items else ""


def _disk_line(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('volume_id')}: {d.get('size')} GiB, {_bytes(d.get('bytes'))} in {_secs(d.get('seconds'))} "
        f"({_num(d.get('mb_per_s'))} MB/s, {d.get('access') or d.get('method') or '-'})"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _rate(nbytes: int, seconds: float) -> float | None:
    return round(nbytes / 1e6 / seconds, 2) if nbytes and seconds else None


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _secs(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} s"


def _bytes(value: Any) -> str:
    n = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


__all__ = [
    "FAILED",
    "MIGRATED",
    "REPORT_VERSION",
    "SKIPPED",
    "STEPS",
    "build_report",
    "format_table",
    "load_report",
    "merge_reports",
    "render_html",
    "resource_actions",
    "safe_stem",
    "timeline_svg",
    "write_report",
]
