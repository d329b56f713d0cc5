"""Benchmark of wave planning at scale (issue 10, item 7): a script, not a test; no cloud needed.

Generates a wave plan of 50 tenants x 20 servers (1,000 servers in 5 waves: date-time, cron and
staged starts; per tenant 15 server names and a regex for 5 more, pre-workload filters, a flavor
map) in a temporary directory, and measures, for it and for a baseline plan of 1 tenant with 1
server (the same pipeline, in the same run):

1. ``load``    -- :func:`os_migrate.waves.load_plan` (YAML, schema, semantic checks, line map);
2. ``expand``  -- both DAG confs of every tenant run (``pre_workload_conf``/``workloads_conf``);
3. ``resolve`` -- every tenant's server selection compiled with :class:`os_migrate.filters.Filters`
   and matched against a fake source listing (20 server names per tenant, 1,000 in all; a stand-in
   for the source cloud, allowed for this planning benchmark only), checking every server is
   selected exactly once;
4. ``parse``   -- ``dags/os_migrate_waves.py`` parsed by Airflow's ``DagBag`` in a fresh
   interpreter with ``OS_MIGRATE_WAVE_PLAN`` set to the plan (Airflow imported first, untimed;
   then the first parse timed, a second one under ``tracemalloc`` for its peak); reported as
   "not present" when the DAG file does not exist.

Times are taken without :mod:`tracemalloc`; peak memory (Python allocations) is measured on a second
call under it (phases 1-3 in this process, the largest of their peaks; phase 4 in its own). Memory per server is ``(peak_big - peak_small) / 999`` in KiB.

Exit status 1 when the 1,000-server total (load + expand + resolve + parse) exceeds 60 s, or a
step fails (an invalid plan, a DAG import error, a selection that does not resolve).

Usage: ``.venv/bin/python scripts/bench_wave_planning.py [--tenants 50] [--servers 20]
[--waves 5] [--json PATH] [--dag-file PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from os_migrate.filters import Filters
from os_migrate.waves import WavePlan, load_plan

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "dags" / "os_migrate_waves.py"
LIMIT_S = 60.0
WORKLOADS = "workloads"

# Run in a fresh interpreter: import Airflow (untimed), then time one DagBag parse of the DAG file
# and measure a second parse's tracemalloc peak. Prints one JSON line.
_PARSE_CHILD = r"""
import json, sys, time, tracemalloc
from airflow.dag_processing.dagbag import DagBag
import os_migrate_airflow.dag_support  # the provider's import cost is not the plan's
path = sys.argv[1]
t0 = time.perf_counter()
bag = DagBag(dag_folder=path)
seconds = time.perf_counter() - t0
tracemalloc.start()
DagBag(dag_folder=path)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"seconds": seconds, "peak": peak, "dags": len(bag.dags),
                  "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "errors": {str(k): str(v)[-2000:] for k, v in bag.import_errors.items()}}))
"""


def tenant_servers(t: int, servers: int) -> list[str]:
    """The fake source listing of tenant ``t``: ``servers`` names, a quarter of them ``db-``."""
    db = servers // 4
    return [f"t{t:03d}-web-{i:03d}" for i in range(servers - db)] + [
        f"t{t:03d}-db-{i:03d}" for i in range(db)
    ]


def make_plan(tenants: int, servers: int, waves: int) -> dict[str, Any]:
    """A plan document of ``tenants`` x ``servers`` in ``waves`` waves (names plus one regex per tenant)."""
    per_wave = max(1, -(-tenants // waves))
    doc: dict[str, Any] = {
        "version": 1,
        "defaults": {
            "src_conn_id": "openstack_src_{tenant}",
            "dst_conn_id": "openstack_dst_{tenant}",
            "copy_method": "image",
        },
        "waves": [],
    }
    starts: list[Any] = [
        "2026-12-05T02:00:00+01:00",
        {"cron": "0 2 * * 6", "timezone": "Europe/Prague"},
        "staged",
    ]
    for w in range(-(-tenants // per_wave)):
        start = starts[w % len(starts)]
        wave: dict[str, Any] = {
            "name": f"wave-{w:02d}",
            "start": start,
            "approval": w % 2 == 1,
            "on_preflight_failure": "skip" if w % 2 == 0 else "stop",
            "concurrency": {"servers": 8, "copies_per_host_pair": 2},
            "tenants": [],
        }
        if isinstance(start, str) and start != "staged":
            wave["end"] = "2026-12-05T06:00:00+01:00"
        else:
            wave["window"] = "4h"
        for t in range(w * per_wave, min(tenants, (w + 1) * per_wave)):
            names = tenant_servers(t, servers)
            web = [n for n in names if "-web-" in n]
            selection: list[Any] = list(web)
            if len(web) < len(names):
                selection.append(f"regex:^t{t:03d}-db-\\d+$")
            wave["tenants"].append(
                {
                    "tenant": f"tenant-{t:03d}",
                    "pre_workload": {
                        "resource_types": [
                            "networks",
                            "subnets",
                            "routers",
                            "router_interfaces",
                            "security_groups",
                        ],
                        "filters": {"networks": [f"t{t:03d}-net", "regex:^shared-"]},
                    },
                    "servers": selection,
                    "migration_params": {"boot_disk_copy": t % 3 == 0},
                    "flavor_map": {"m1.small": "m1.medium"},
                }
            )
        doc["waves"].append(wave)
    return doc


def resolve(plan: WavePlan, servers: int) -> int:
    """Match every tenant's selection against its fake listing; the number of servers selected.

    :raises SystemExit: a listed server is not selected (the generated selections cover all).
    """
    selected = 0
    for wave in plan.waves:
        for run in wave.tenants:
            flt = Filters({WORKLOADS: list(run.servers)}, (WORKLOADS,))
            listing = tenant_servers(int(run.tenant.rsplit("-", 1)[1]), servers)
            chosen = [name for name in listing if flt.selects(WORKLOADS, name)]
            if len(chosen) != len(listing):
                raise SystemExit(
                    f"{run.tenant}: selection resolves to {len(chosen)} of {len(listing)} servers"
                )
            selected += len(chosen)
    return selected


def timed(func, *args) -> tuple[Any, float, int]:
    """``func(*args)`` with its wall time (s, without tracemalloc, which slows Python down) and the
    tracemalloc peak (bytes above what was allocated before) of a second call."""
    t0 = time.perf_counter()
    func(*args)
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = func(*args)
        peak = max(0, tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    return result, seconds, peak


def parse_dag(dag_file: Path, plan_path: Path, home: Path) -> dict[str, Any]:
    """Parse ``dag_file`` in a fresh interpreter with the plan; ``{"present": False}`` without the file."""
    if not dag_file.exists():
        return {"present": False}
    env = dict(
        os.environ,
        OS_MIGRATE_WAVE_PLAN=str(plan_path),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW__CORE__DAGS_FOLDER=str(dag_file.parent),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        OS_MIGRATE_STAGING_ROOT=str(home / "staging"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _PARSE_CHILD, str(dag_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        return {"present": True, "failed": proc.stderr.strip().splitlines()[-1:] or ["?"]}
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    doc["present"] = True
    return doc


def measure(tmp: Path, label: str, tenants: int, servers: int, waves: int, dag_file: Path) -> dict[str, Any]:
    """The whole pipeline for one generated plan."""
    work = tmp / label
    work.mkdir()
    path = work / "waves.yml"
    path.write_text(yaml.safe_dump(make_plan(tenants, servers, waves), sort_keys=False))
    plan, load_s, load_peak = timed(load_plan, path)
    confs, expand_s, expand_peak = timed(
        lambda p: [(r.pre_workload_conf(), r.workloads_conf()) for w in p.waves for r in w.tenants], plan
    )
    selected, resolve_s, resolve_peak = timed(resolve, plan, servers)
    (work / "home").mkdir()
    parse = parse_dag(dag_file, path, work / "home")
    total = load_s + expand_s + resolve_s + (parse.get("seconds") or 0.0)
    return {
        "label": label,
        "tenants": tenants,
        "servers": tenants * servers,
        "waves": len(plan.waves),
        "plan_bytes": path.stat().st_size,
        "confs": sum(1 for pre, wl in confs for c in (pre, wl) if c is not None),
        "selected": selected,
        "load_s": load_s,
        "expand_s": expand_s,
        "resolve_s": resolve_s,
        "core_peak": max(load_peak, expand_peak, resolve_peak),
        "parse": parse,
        "total_s": total,
    }


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:8.3f} s"


def fmt_kib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:8.1f} KiB"


def report(small: dict[str, Any], big: dict[str, Any]) -> list[str]:
    """The figures side by side, with the memory per server."""
    rows: list[tuple[str, str, str]] = [
        (
            "tenants / servers",
            f"{small['tenants']} / {small['servers']}",
            f"{big['tenants']} / {big['servers']}",
        ),
        ("waves", str(small["waves"]), str(big["waves"])),
        ("plan file", f"{small['plan_bytes']} B", f"{big['plan_bytes']} B"),
        ("load + validate", fmt_s(small["load_s"]), fmt_s(big["load_s"])),
        ("expand (confs)", fmt_s(small["expand_s"]), fmt_s(big["expand_s"])),
        ("resolve selections", fmt_s(small["resolve_s"]), fmt_s(big["resolve_s"])),
    ]
    sp, bp = small["parse"], big["parse"]
    if not bp.get("present"):
        rows.append(("parse wave DAG file", "not present", "not present"))
    elif bp.get("failed") or bp.get("errors") or sp.get("failed") or sp.get("errors"):
        rows.append(("parse wave DAG file", "FAILED", "FAILED"))
    else:
        rows.append(("parse wave DAG file", fmt_s(sp["seconds"]), fmt_s(bp["seconds"])))
        rows.append(("  DAGs / tasks", f"{sp['dags']} / {sp['tasks']}", f"{bp['dags']} / {bp['tasks']}"))
        rows.append(("  parse peak memory", fmt_kib(sp["peak"]), fmt_kib(bp["peak"])))
    rows.append(("total", fmt_s(small["total_s"]), fmt_s(big["total_s"])))
    rows.append(("core peak memory", fmt_kib(small["core_peak"]), fmt_kib(big["core_peak"])))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'baseline':>16}  {'plan':>16}"]
    lines += [f"{name:<{width}}  {a:>16}  {b:>16}" for name, a, b in rows]
    extra = big["servers"] - small["servers"]
    if extra > 0:
        per = (big["core_peak"] - small["core_peak"]) / extra / 1024
        lines.append(f"core memory per server: {per:.2f} KiB")
        if bp.get("peak") and sp.get("peak") and not (bp.get("errors") or sp.get("errors")):
            lines.append(f"DAG parse memory per server: {(bp['peak'] - sp['peak']) / extra / 1024:.2f} KiB")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--servers", type=int, default=20, help="servers per tenant")
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--dag-file", type=Path, default=DAG_FILE, help="wave DAG file to parse")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    print(
        f"{platform.node()}: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPU"
    )
    with tempfile.TemporaryDirectory(prefix="bench-waves-") as tmp:
        small = measure(Path(tmp), "baseline", 1, 1, 1, args.dag_file)
        big = measure(Path(tmp), "plan", args.tenants, args.servers, args.waves, args.dag_file)
    for line in report(small, big):
        print(line)
    for doc in (small, big):
        parse = doc["parse"]
        if parse.get("failed") or parse.get("errors"):
            print(
                f"{doc['label']}: DAG parse failed: {parse.get('failed') or parse.get('errors')}",
                file=sys.stderr,
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline": small, "plan": big}, indent=2))
    failed = any(d["parse"].get("failed") or d["parse"].get("errors") for d in (small, big))
    if big["total_s"] > LIMIT_S:
        print(
            f"FAIL: {big['servers']} servers took {big['total_s']:.1f} s (limit {LIMIT_S:.0f} s)",
            file=sys.stderr,
        )
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
