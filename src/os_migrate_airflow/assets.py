"""Each tenant's staged data as an Airflow asset.

The pre-workload DAG's tenant is a Param, so its summary task declares the alias
:data:`STAGED_ALIAS` as outlet and resolves it at run time to :func:`staged_asset` of the run's
tenant, ``Asset(name="os_migrate_staged_<tenant>")`` (its URI is the name). A DAG (a workloads run,
a wave) scheduled on that asset runs when the tenant's pre-workload run has staged and imported
its data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import Asset, AssetAlias

from os_migrate_airflow.dag_support import summarize_run

#: Alias every pre-workload run emits its tenant's staged-data event through.
STAGED_ALIAS = AssetAlias("os_migrate_staged")
#: Asset name prefix; the tenant follows.
STAGED_PREFIX = "os_migrate_staged_"


def staged_asset(tenant: str) -> Asset:
    """``Asset(name="os_migrate_staged_<tenant>")``: the staged data of ``tenant``."""
    return Asset(name=f"{STAGED_PREFIX}{tenant}")


def summarize_and_stage(
    exports: Mapping[str, Any],
    imports: Mapping[str, Any],
    *,
    tenant: Any,
    dry_run: Any = False,
    data_dir: Any = None,
    outlet_events: Any = None,
) -> dict[str, Any]:
    """:func:`~os_migrate_airflow.dag_support.summarize_run`, then (unless a dry run) an asset event
    of :func:`staged_asset` of ``tenant`` with extra ``{"tenant", "data_dir"}`` through
    :data:`STAGED_ALIAS` (the task must list it in ``outlets``; Airflow passes ``outlet_events``).

    :returns: the run summary, with ``staged_asset`` (its name, or None on a dry run).
    """
    summary = summarize_run(exports, imports, tenant=tenant, dry_run=dry_run)
    summary["staged_asset"] = None
    if not summary["dry_run"] and outlet_events is not None:
        asset = staged_asset(str(tenant))
        outlet_events[STAGED_ALIAS].add(asset, extra={"tenant": str(tenant), "data_dir": str(data_dir)})
        summary["staged_asset"] = asset.name
    return summary
