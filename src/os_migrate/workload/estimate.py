"""What a wave will do, for a human to approve: bytes to copy per server and a Markdown summary.

Pure functions over the staged records and the pre-flight report
(:func:`os_migrate.workload.preflight`); no cloud calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from os_migrate.workload.checks import select_servers
from os_migrate.workload.disks import disk_plan

GIB = 1024**3


def expected_bytes(
    data_dir: str | Path,
    servers: list[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    flavor_disks: Mapping[str, int | None] | None = None,
) -> dict[str, dict[str, int]]:
    """Bytes each server's disk copies will move: the sizes of the destination volumes planned by
    :func:`~os_migrate.workload.disks.disk_plan` (boot volume or copied root disk, data volumes).

    An upper bound: the copy moves at most the volume size (a sparse or compressed copy moves less).

    :param data_dir: data dir holding ``workloads.yml``.
    :param servers: exact server names (the pre-flight report's ``migrate``).
    :param overrides: the run's ``_migration_params`` overrides.
    :param flavor_map: the run's flavor map.
    :param flavor_disks: server name -> root disk of its destination flavor in GiB (the
        pre-flight report's ``flavors[name]["disk"]``); sizes the root disk of an image-booted
        server copied with ``boot_disk_copy``.
    :returns: ``{server: {"disks": count, "bytes": total}}`` for each name found in the records.
    :raises ValidationError: bad records or flavor map (as :func:`~os_migrate.workload.preflight`).
    """
    if not servers:
        return {}
    flavor_disks = flavor_disks or {}
    out = {}
    for server in select_servers(data_dir, list(servers), overrides, flavor_map):
        plan = disk_plan(server, flavor_disk=int(flavor_disks.get(server.name) or 0))
        out[server.name] = {"disks": len(plan), "bytes": sum(d.spec.size for d in plan) * GIB}
    return out


def human_bytes(count: int) -> str:
    """``count`` bytes as ``12.0 GiB`` / ``512.0 MiB`` (binary units)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plan_markdown(
    report: Mapping[str, Any],
    sizes: Mapping[str, Mapping[str, int]],
    *,
    tenant: str | None = None,
    data_dir: str | None = None,
) -> str:
    """The wave's plan as Markdown (the approval step's body).

    :param report: the pre-flight report (``migrate``, ``skip``, ``done``, ``flavors``, ``needs``).
    :param sizes: :func:`expected_bytes` of the servers to migrate.
    :returns: sections: servers to stop and migrate (source -> destination flavor, disks, bytes),
        the expected bytes in total, servers already migrated, servers skipped with the reason.
    """
    migrate = list(report.get("migrate") or [])
    flavors = report.get("flavors") or {}
    lines = []
    if tenant or data_dir:
        lines += [f"Tenant **{tenant or '?'}**, data dir `{data_dir or '?'}`.", ""]
    lines += [f"### Servers to stop and migrate ({len(migrate)})", ""]
    if migrate:
        lines += ["| server | flavor (source -> destination) | disks | bytes |", "|---|---|---|---|"]
        for name in migrate:
            choice = flavors.get(name) or {}
            flavor = f"{choice.get('source', '?')} -> {choice.get('destination', '?')}"
            size = sizes.get(name) or {"disks": 0, "bytes": 0}
            lines.append(f"| {name} | {flavor} | {size['disks']} | {human_bytes(size['bytes'])} |")
        lines.append("")
    else:
        lines += ["None: no server will be stopped.", ""]
    total = sum(int((sizes.get(n) or {}).get("bytes", 0)) for n in migrate)
    lines += [
        f"**Expected bytes to copy: {human_bytes(total)}** ({total} bytes, the sum of the disk "
        "sizes; at most this much).",
        "",
    ]
    needs = report.get("needs") or {}
    if needs:
        lines += ["Destination quota used: " + ", ".join(f"{k} {v}" for k, v in sorted(needs.items())), ""]
    done = list(report.get("done") or [])
    if done:
        lines += [f"### Already migrated, not touched ({len(done)})", "", *(f"- {n}" for n in done), ""]
    skips = list(report.get("skip") or [])
    lines += [f"### Skipped ({len(skips)})", ""]
    lines += [f"- {s['server']}: {s['reason']}" for s in skips] or ["None."]
    lines += [
        "",
        "**Approve** stops the servers above in the source and migrates them. "
        "**Reject** stops nothing: every later step is skipped.",
    ]
    return "\n".join(lines)
