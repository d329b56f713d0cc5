"""Summary of a wave: what each server's finalize reported."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

LOG = logging.getLogger(__name__)


def summarize_workloads(results: Iterable[Mapping[str, Any] | None], *,
                        preflight: Mapping[str, Any] | None = None) -> dict:
    """Count and list the outcome of every server of a wave.

    :param results: finalize results (``{"server", "result", ...}``); None for a server whose
        finalize failed (its migration was rolled back) or did not run.
    :param preflight: the pre-flight report, to name the failed servers (those it selected with no
        result) and the skipped ones.
    :returns: ``{"migrated": [names], "skipped": [{"server", "reason"}], "failed": [names],
        "already_done": [names], "counts": {"migrated", "skipped", "failed"}}``.
    """
    migrated, skipped, seen = [], [], set()
    for r in results:
        if not r:
            continue
        seen.add(r.get("server"))
        if r.get("result") == "migrated":
            migrated.append(r["server"])
        elif r.get("result") == "skipped":
            skipped.append({"server": r["server"], "reason": r.get("reason", "")})
    report = dict(preflight or {})
    failed = [n for n in report.get("migrate", []) if n not in seen]
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
    LOG.info("workloads: %d migrated %s, %d skipped %s, %d failed %s", len(migrated),
             summary["migrated"], len(skipped), [s["server"] for s in summary["skipped"]],
             len(failed), summary["failed"])
    return summary
