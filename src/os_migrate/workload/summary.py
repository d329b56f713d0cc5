"""Summary of a wave: what each server's finalize reported."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

LOG = logging.getLogger(__name__)


def summarize_workloads(
    results: Iterable[Mapping[str, Any] | None], *, preflight: Mapping[str, Any] | None = None
) -> dict:
    """Count and list the outcome of every server of a wave.

    :param results: finalize results (``{"server", "result", ...}``); None for a server whose
        finalize failed (its migration was rolled back) or did not run.
    :param preflight: the pre-flight report, to name the failed servers (those it selected to
        migrate, that ran (``run``, default all) and have no result) and the skipped ones.
    :returns: ``{"migrated": [names migrated by this run], "skipped": [{"server", "reason"}],
        "failed": [names], "already_done": [names migrated by an earlier run], "counts":
        {"migrated", "skipped", "failed"}}``.
    """
    report = dict(preflight or {})
    reasons = {s["server"]: s.get("reason", "") for s in report.get("skip", [])}
    migrated, skipped, seen = [], [], set()
    for r in results:
        if not r:
            continue
        seen.add(r.get("server"))
        if r.get("result") == "migrated":
            migrated.append(r["server"])
        elif r.get("result") == "skipped":
            skipped.append({"server": r["server"], "reason": r.get("reason") or reasons.get(r["server"], "")})
    migrated = [n for n in migrated if n not in report.get("done", [])]
    ran = set(report.get("run", report.get("servers", report.get("migrate", []))))
    failed = [n for n in report.get("migrate", []) if n in ran and n not in seen]
    for s in report.get("skip", []):
        if s["server"] not in seen:
            skipped.append(dict(s))
    summary = {
        "migrated": sorted(migrated),
        "skipped": sorted(skipped, key=lambda s: s["server"]),
        "failed": sorted(failed),
        "already_done": sorted(report.get("done", [])),
        "counts": {"migrated": len(migrated), "skipped": len(skipped), "failed": len(failed)},
    }
    LOG.info(
        "workloads: %d migrated %s, %d skipped %s, %d failed %s",
        len(migrated),
        summary["migrated"],
        len(skipped),
        [s["server"] for s in summary["skipped"]],
        len(failed),
        summary["failed"],
    )
    return summary
