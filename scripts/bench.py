"""Benchmark of the migration core against the local cloud (issue 3, item 6): a script, not a test.

Seeds project ``bench-src`` with 500 network-layer resources (idempotent: a re-run reuses them):

- 60 networks, 60 subnets (two allocation pools, two DNS servers, one host route each);
- 10 routers with an external gateway on ``public`` and 60 interfaces (50 at the subnet's
  gateway IP, 10 at another IP through a pre-created port);
- 40 security groups (their automatic egress rules removed) with 270 rules, 39 of them with a
  remote group.

Then, each timed, with HTTP requests counted by :class:`os_migrate.RequestCounter` on the
connection used (a fresh connection per phase, so its token request is included):

1. ``export``   -- ``export_resources`` of ``bench-src`` into a fresh data dir;
2. ``floor``    -- a bare openstacksdk loop creating the same 500 resources in ``bench-floor``
   (cleaned first): what any tool must at least spend on this cloud;
3. ``import``   -- ``import_resources`` into ``bench-dst`` (cleaned first), with its bulk
   creates and ``--concurrency`` writer threads (default the core's);
4. ``reimport`` -- the same import again (must plan no change and write nothing).

Projects ``bench-src``, ``bench-dst`` and ``bench-floor`` (users ``<project>-member``, role
``member``, network quotas raised to 1000) are created as the devcloud admin; the integration tests
use ``src``/``dst`` and never touch them. Needs a running devcloud (``devcloud/devcloud.sh up``).

``--scale N`` multiplies every count (``--scale 10``: 5,000 resources: 600 networks and subnets,
100 routers with 600 interfaces, 400 groups with 2,700 rules) in projects ``bench-x<N>-src|dst|floor``
(quotas 1000 x N); seeding uses ``--seed-workers`` threads, the floor stays one request at a time.
Targets (issue 13, exit status 1 if one is missed): import <= 0.35x the floor of the same run and
< 0.8 requests per resource; export and no-op re-import within 3 s per 500 resources and at most
15 requests whatever the size.

Usage: ``.venv/bin/python scripts/bench.py [--scale N] [--concurrency N] [--repeat N] [--json PATH]
[--by-url] [--reseed] [--clouds-yaml PATH]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import openstack.config
import openstack.connection

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import sample_tenant  # noqa: E402  (clean())
from os_migrate import RequestCounter, export_resources, import_resources  # noqa: E402
from os_migrate.apply import DEFAULT_CONCURRENCY  # noqa: E402
from os_migrate.cloud import find_or_none  # noqa: E402

# ------------------------------------------------------------------ the tenant

#: ``--scale N`` multiplies every count (5,000 resources at 10) and uses its own projects.
SCALE = 1
PREFIX = "bench"
PROJECTS = ("bench-src", "bench-dst", "bench-floor")
PASSWORD = "devcloud-bench"
QUOTA_TYPES = ("network", "subnet", "router", "port", "security_group", "security_group_rule")
QUOTAS = dict.fromkeys(QUOTA_TYPES, 1000)
EXTERNAL_NETWORK = "public"
TYPES = ("networks", "subnets", "routers", "router_interfaces", "security_groups", "security_group_rules")
#: Neutron gives every project a ``default`` group; it is not part of the 500.
FILTERS = {"security_groups": [{"regex": "^bench-sg-"}]}

N_NETWORKS = 60  # one subnet each
N_ROUTERS = 10  # 6 interfaces each
IFACES_PER_ROUTER = N_NETWORKS // N_ROUTERS
N_GROUPS = 40
GROUPS_WITH_7_RULES = 30  # 30 * 7 + 10 * 6 = 270
BASE_EXPECTED = {
    "networks": 60,
    "subnets": 60,
    "routers": 10,
    "router_interfaces": 60,
    "security_groups": 40,
    "security_group_rules": 270,
}
EXPECTED = dict(BASE_EXPECTED)
TOTAL = sum(EXPECTED.values())
assert TOTAL == 500


def set_scale(scale: int) -> None:
    """Multiply the tenant by ``scale``; projects ``bench-x<scale>-src|dst|floor`` for scale > 1
    (quotas 1000 x scale), so the 500-resource projects stay seeded."""
    global SCALE, PREFIX, PROJECTS, QUOTAS, N_NETWORKS, N_ROUTERS, N_GROUPS, GROUPS_WITH_7_RULES, TOTAL
    SCALE = scale
    PREFIX = "bench" if scale == 1 else f"bench-x{scale}"
    PROJECTS = tuple(f"{PREFIX}-{role}" for role in ("src", "dst", "floor"))
    QUOTAS = dict.fromkeys(QUOTA_TYPES, 1000 * scale)
    N_NETWORKS, N_ROUTERS, N_GROUPS, GROUPS_WITH_7_RULES = 60 * scale, 10 * scale, 40 * scale, 30 * scale
    EXPECTED.update({key: n * scale for key, n in BASE_EXPECTED.items()})
    TOTAL = sum(EXPECTED.values())


def _prefix(i: int) -> str:
    """The /24 of subnet ``i`` (10.100.0.0/24 ... 10.100.199.0/24, then 10.101.0.0/24 ...)."""
    return f"10.{100 + i // 200}.{i % 200}"


def network_specs() -> list[dict]:
    return [{"name": f"bench-net-{i:02d}", "description": f"bench network {i}"} for i in range(N_NETWORKS)]


def subnet_specs() -> list[dict]:
    out = []
    for i in range(N_NETWORKS):
        p = _prefix(i)
        out.append(
            {
                "name": f"bench-subnet-{i:02d}",
                "network": f"bench-net-{i:02d}",
                "cidr": f"{p}.0/24",
                "ip_version": 4,
                "gateway_ip": f"{p}.1",
                "is_dhcp_enabled": i % 3 != 0,
                "allocation_pools": [
                    {"start": f"{p}.100", "end": f"{p}.150"},
                    {"start": f"{p}.10", "end": f"{p}.50"},
                ],
                "dns_nameservers": ["8.8.8.8", f"{p}.2"],
                "host_routes": [
                    {"destination": f"192.{168 + i // 200}.{i % 200}.0/24", "nexthop": f"{p}.254"}
                ],
            }
        )
    return out


def router_specs() -> list[dict]:
    out = []
    for r in range(N_ROUTERS):
        ifaces = []
        for j in range(IFACES_PER_ROUTER):
            i = r * IFACES_PER_ROUTER + j
            # the last interface of each router sits on a non-gateway IP (port first)
            ifaces.append(
                (f"bench-subnet-{i:02d}", f"{_prefix(i)}.5" if j == IFACES_PER_ROUTER - 1 else None)
            )
        out.append({"name": f"bench-router-{r}", "description": f"bench router {r}", "interfaces": ifaces})
    return out


def group_specs() -> list[dict]:
    out = []
    for g in range(N_GROUPS):
        prev = f"bench-sg-{g - 1:02d}" if g else None
        rules = [
            {
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "remote_ip_prefix": "10.0.0.0/8",
            },
            {
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "tcp",
                "port_range_min": 8000 + g,
                "port_range_max": 8000 + g,
                "remote_ip_prefix": "0.0.0.0/0",
                "description": f"app port {8000 + g}",
            },
            {
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "icmp",
                "remote_ip_prefix": "0.0.0.0/0",
            },
            {
                "direction": "egress",
                "ether_type": "IPv4",
                "protocol": "tcp",
                "port_range_min": 443,
                "port_range_max": 443,
                "remote_ip_prefix": "0.0.0.0/0",
            },
            {
                "direction": "ingress",
                "ether_type": "IPv6",
                "protocol": "tcp",
                "port_range_min": 443,
                "port_range_max": 443,
                "remote_ip_prefix": "::/0",
            },
            {
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "tcp",
                "port_range_min": 5432,
                "port_range_max": 5432,
                "remote_group": prev,
            }
            if prev
            else {
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "udp",
                "port_range_min": 53,
                "port_range_max": 53,
                "remote_ip_prefix": "10.0.0.0/8",
            },
            {
                "direction": "egress",
                "ether_type": "IPv4",
                "protocol": "udp",
                "port_range_min": 123,
                "port_range_max": 123,
                "remote_ip_prefix": "0.0.0.0/0",
            },
        ]
        out.append(
            {
                "name": f"bench-sg-{g:02d}",
                "description": f"bench group {g}",
                "rules": rules[: 7 if g < GROUPS_WITH_7_RULES else 6],
            }
        )
    return out


def _rule_key(rule: dict, group_ids: dict[str, str]) -> tuple:
    remote = rule.get("remote_group")
    return (
        rule["direction"],
        rule["ether_type"],
        rule.get("protocol"),
        rule.get("port_range_min"),
        rule.get("port_range_max"),
        rule.get("remote_ip_prefix"),
        group_ids.get(remote) if remote else None,
    )


def _sdk_rule_key(rule) -> tuple:
    return (
        rule.direction,
        rule.ether_type,
        rule.protocol,
        rule.port_range_min,
        rule.port_range_max,
        rule.remote_ip_prefix,
        rule.remote_group_id,
    )


def build_tenant(conn, *, reuse: bool, workers: int = 1) -> int:
    """Create the tenant's resources in the project of ``conn``; returns the number created.

    With ``reuse`` the project is listed first (one list per type) and existing resources, found
    by name, are kept. Without it this is the bare-SDK floor: nothing but the create calls (and
    the one lookup of the external network any tool needs), one at a time. ``workers`` > 1 (for
    seeding only) creates the items of each step on that many threads.
    """
    net = conn.network
    pid = conn.current_project_id
    created = 0
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def each(fn, items):
        nonlocal created
        results = list(pool.map(fn, items)) if pool else [fn(item) for item in items]
        created += sum(1 for r in results if r)

    def by_name(items):
        return {x.name: x for x in items} if reuse else {}

    nets = by_name(net.networks(project_id=pid))

    def make_network(spec):
        if spec["name"] in nets:
            return False
        nets[spec["name"]] = net.create_network(**spec)
        return True

    each(make_network, network_specs())
    subnets = by_name(net.subnets(project_id=pid))

    def make_subnet(spec):
        if spec["name"] in subnets:
            return False
        spec = dict(spec)
        network = nets[spec.pop("network")]
        subnets[spec["name"]] = net.create_subnet(network_id=network.id, **spec)
        return True

    each(make_subnet, subnet_specs())
    public = net.find_network(EXTERNAL_NETWORK, ignore_missing=False)
    routers = by_name(net.routers(project_id=pid))
    attached = set()
    if reuse:
        attached = {
            (p.device_id, f["subnet_id"])
            for p in net.ports(project_id=pid, device_owner="network:router_interface")
            for f in p.fixed_ips
        }

    # types one after the other, as the import applies them
    def make_router(spec):
        if spec["name"] in routers:
            return False
        routers[spec["name"]] = net.create_router(
            name=spec["name"],
            description=spec["description"],
            external_gateway_info={"network_id": public.id},
        )
        return True

    each(make_router, router_specs())

    def attach(spec):  # the interfaces of one router
        router, done = routers[spec["name"]], 0
        for subnet_name, ip in spec["interfaces"]:
            subnet = subnets[subnet_name]
            if (router.id, subnet.id) in attached:
                continue
            if ip is None:
                net.add_interface_to_router(router, subnet=subnet.id)
            else:
                port = net.create_port(
                    network_id=subnet.network_id, fixed_ips=[{"subnet_id": subnet.id, "ip_address": ip}]
                )
                net.add_interface_to_router(router, port=port.id)
            done += 1
        return done

    results = list(pool.map(attach, router_specs())) if pool else [attach(s) for s in router_specs()]
    created += sum(results)
    groups = by_name(net.security_groups(project_id=pid))
    have_rules: dict[str, set] = {}
    if reuse:
        for rule in net.security_group_rules(project_id=pid):
            have_rules.setdefault(rule.security_group_id, set()).add(_sdk_rule_key(rule))

    def make_group(spec):
        if spec["name"] in groups:
            return False
        group = net.create_security_group(name=spec["name"], description=spec["description"])
        for rule in group.security_group_rules or []:
            net.delete_security_group_rule(rule["id"])
        groups[spec["name"]] = group
        return True

    each(make_group, group_specs())
    group_ids = {name: g.id for name, g in groups.items()}
    rules = []
    for spec in group_specs():
        group_id = group_ids[spec["name"]]
        have = have_rules.get(group_id, set())
        rules += [(group_id, rule) for rule in spec["rules"] if _rule_key(rule, group_ids) not in have]

    def make_rule(item):
        group_id, rule = item
        body = {k: v for k, v in rule.items() if k != "remote_group"}
        if rule.get("remote_group"):
            body["remote_group_id"] = group_ids[rule["remote_group"]]
        net.create_security_group_rule(security_group_id=group_id, **body)
        return True

    each(make_rule, rules)
    if pool:
        pool.shutdown()
    return created


def count_tenant(conn) -> dict[str, int]:
    """What the project holds, in the benchmark's terms (bench-* resources only)."""
    net, pid = conn.network, conn.current_project_id
    groups = {g.id for g in net.security_groups(project_id=pid) if g.name.startswith("bench-sg-")}
    ifaces = sum(len(p.fixed_ips) for p in net.ports(project_id=pid, device_owner="network:router_interface"))
    return {
        "networks": sum(1 for _ in net.networks(project_id=pid)),
        "subnets": sum(1 for _ in net.subnets(project_id=pid)),
        "routers": sum(1 for _ in net.routers(project_id=pid)),
        "router_interfaces": ifaces,
        "security_groups": len(groups),
        "security_group_rules": sum(
            1 for r in net.security_group_rules(project_id=pid) if r.security_group_id in groups
        ),
    }


# ------------------------------------------------------------------ projects and connections


def load_admin(clouds_yaml: Path, cloud: str):
    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    region = config.get_one(cloud=cloud)
    return openstack.connection.Connection(config=region), region


def ensure_projects(admin) -> None:
    """Projects, users (role member), admin role for the admin user, raised quotas (idempotent)."""
    ident = admin.identity
    domain = ident.find_domain("Default", ignore_missing=False)
    member = ident.find_role("member", ignore_missing=False)
    admin_role = ident.find_role("admin", ignore_missing=False)
    admin_user = ident.find_user("admin", domain_id=domain.id, ignore_missing=False)
    for name in PROJECTS:
        project = find_or_none(ident.find_project, name, domain_id=domain.id) or ident.create_project(
            name=name, domain_id=domain.id, description="OS Migrate benchmark"
        )
        user = find_or_none(ident.find_user, f"{name}-member", domain_id=domain.id) or ident.create_user(
            name=f"{name}-member", domain_id=domain.id, password=PASSWORD, default_project_id=project.id
        )
        for u, role in ((user, member), (admin_user, admin_role)):
            if not ident.validate_user_has_project_role(project, u, role):
                ident.assign_project_role_to_user(project, u, role)
        admin.set_network_quotas(project.id, **QUOTAS)


def connect(region, project: str):
    """A fresh connection of ``<project>-member`` (explicit auth; never OS_* variables)."""
    auth = region.config["auth"]
    return openstack.connection.Connection(
        auth_type="password",
        auth={
            "auth_url": auth["auth_url"],
            "username": f"{project}-member",
            "password": PASSWORD,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        region_name=region.region_name,
        interface="public",
        identity_api_version="3",
    )


# ------------------------------------------------------------------ measuring

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


class UrlCounter:
    """Requests by ``METHOD path?query-keys`` (ids replaced by ``{id}``) and the time spent waiting
    for responses (the rest of a phase's wall time is client-side work): for profiling."""

    def __init__(self, conn):
        self.session = conn.session
        self.by_url: Counter[str] = Counter()
        self.http_seconds = 0.0
        self.url_seconds: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()

    def __enter__(self):
        self._orig = self.session.request
        orig = self._orig

        def counting(url, method, *args, **kwargs):
            keys = sorted(kwargs.get("params") or {})
            path = _UUID.sub("{id}", urlsplit(str(url)).path)
            key = f"{method.upper()} {path}" + (f"?{'&'.join(keys)}" if keys else "")
            depth = getattr(self._local, "depth", 0)  # a token request nests in another one
            self._local.depth = depth + 1
            t0 = time.perf_counter()
            try:
                return orig(url, method, *args, **kwargs)
            finally:
                self._local.depth = depth
                with self._lock:
                    self.by_url[key] += 1
                    if not depth:
                        self.http_seconds += time.perf_counter() - t0
                        self.url_seconds[key] += time.perf_counter() - t0

        self.session.request = counting
        return self

    def __exit__(self, *exc):
        self.session.request = self._orig


def measure(name: str, conn, fn) -> dict:
    with RequestCounter(conn) as rc, UrlCounter(conn) as uc:
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
    return {
        "phase": name,
        "seconds": round(seconds, 3),
        "requests": rc.total,
        "reads": rc.reads,
        "writes": rc.writes,
        "auth": rc.by_method["AUTH"],
        "http_seconds": round(uc.http_seconds, 3),
        "by_method": dict(rc.by_method),
        "by_url": {
            k: {"count": n, "seconds": round(uc.url_seconds[k], 3)} for k, n in uc.by_url.most_common()
        },
        "result": result,
    }


def clean(conn, label: str) -> None:
    t0 = time.perf_counter()
    sample_tenant.clean(conn)
    print(f"  cleaned {label} in {time.perf_counter() - t0:.1f} s", flush=True)


def run_once(region, data_dir: Path, floor_first: bool, concurrency: int) -> dict:
    """export, then floor and import (+ no-op re-import) in the given order, both projects
    cleaned before either is measured."""
    phases = {}
    if data_dir.exists():
        shutil.rmtree(data_dir)
    src_name, dst_name, floor_name = PROJECTS
    conn = connect(region, src_name)
    phases["export"] = measure(
        "export", conn, lambda: export_resources(conn, data_dir, types=TYPES, filters=FILTERS)["counts"]
    )
    if phases["export"]["result"] != EXPECTED:
        raise SystemExit(f"export counted {phases['export']['result']}, expected {EXPECTED}")
    clean(connect(region, floor_name), floor_name)
    clean(connect(region, dst_name), dst_name)

    def floor():
        conn = connect(region, floor_name)
        phases["floor"] = measure("floor", conn, lambda: build_tenant(conn, reuse=False))
        # the floor built the same tenant: a dry-run import into it plans no change (not timed)
        same = import_resources(conn, data_dir, types=TYPES, filters=FILTERS, dry_run=True)["counts"]
        if same["unchanged"] != TOTAL:
            raise SystemExit(f"{floor_name} differs from the export: {same}")

    def import_twice():
        conn = connect(region, dst_name)

        def run_import():
            return import_resources(conn, data_dir, types=TYPES, filters=FILTERS, concurrency=concurrency)

        phases["import"] = measure("import", conn, lambda: run_import()["counts"])
        if phases["import"]["result"]["create"] != TOTAL:
            raise SystemExit(f"import planned {phases['import']['result']}, expected {TOTAL} creates")
        got = count_tenant(conn)
        if got != EXPECTED:
            raise SystemExit(f"{dst_name} holds {got} after import, expected {EXPECTED}")
        conn = connect(region, dst_name)
        phases["reimport"] = measure(
            "reimport", conn, lambda: import_resources(conn, data_dir, types=TYPES, filters=FILTERS)["counts"]
        )
        r = phases["reimport"]["result"]
        if r["create"] or r["update"] or phases["reimport"]["writes"]:
            raise SystemExit(f"re-import was not a no-op: {r}, {phases['reimport']['writes']} writes")

    for step in (floor, import_twice) if floor_first else (import_twice, floor):
        step()
    for name in ("export", "floor", "import", "reimport"):
        p = phases[name]
        print(
            f"  {name:<9} {p['seconds']:7.2f} s  {p['requests']:4} requests ({p['writes']} writes)",
            flush=True,
        )
    return phases


def summarize(runs: list[dict]) -> dict:
    """Median over runs per phase (each phase's figures from its median-time run)."""
    out = {}
    for phase in ("export", "floor", "import", "reimport"):
        samples = sorted((run[phase] for run in runs), key=lambda p: p["seconds"])
        med = dict(samples[(len(samples) - 1) // 2])
        med["all_seconds"] = [s["seconds"] for s in (run[phase] for run in runs)]
        med["resources"] = TOTAL
        med["resources_per_s"] = round(TOTAL / med["seconds"], 1)
        med["requests_per_resource"] = round(med["requests"] / TOTAL, 3)
        med["writes_per_resource"] = round(med["writes"] / TOTAL, 3)
        out[phase] = med
    floor = out["floor"]["seconds"]
    for phase in out.values():
        phase["vs_floor"] = round(phase["seconds"] / floor, 2)
    # import / floor of each run (the two ran back to back), and their median
    paired = [round(run["import"]["seconds"] / run["floor"]["seconds"], 3) for run in runs]
    out["import"]["vs_floor_per_run"] = paired
    out["import"]["vs_floor_paired_median"] = round(statistics.median(paired), 2)
    return out


def print_table(phases: dict) -> None:
    head = (
        f"{'phase':<9} {'wall s':>8} {'res/s':>7} {'req':>5} {'req/res':>8} "
        f"{'writes':>6} {'wr/res':>7} {'reads':>5} {'auth':>4} {'http s':>7} {'vs floor':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, p in phases.items():
        print(
            f"{name:<9} {p['seconds']:>8.2f} {p['resources_per_s']:>7.1f} {p['requests']:>5} "
            f"{p['requests_per_resource']:>8.3f} {p['writes']:>6} "
            f"{p['writes_per_resource']:>7.3f} {p['reads']:>5} {p['auth']:>4} "
            f"{p['http_seconds']:>7.2f} {p['vs_floor']:>7.2f}x"
        )


def check_targets(phases: dict) -> dict:
    """Issue 13's acceptance: import <= 0.35x the floor with < 0.8 requests per resource; export
    and no-op re-import within 3 s per 500 resources (linear) and a constant 15 requests."""
    exp, imp, re_ = phases["export"], phases["import"], phases["reimport"]
    per_resource_get = any(
        k.startswith("GET ") and "{id}" in k.split("?")[0] and v["count"] > 2
        for k, v in exp["by_url"].items()
    )
    seconds = 3 * SCALE
    return {
        f"export_within_{seconds}s": exp["seconds"] <= seconds,
        "export_at_most_15_requests": exp["requests"] <= 15,
        "export_no_get_per_resource": exp["writes"] == 0 and not per_resource_get,
        "import_within_0.35x_floor": imp["vs_floor"] <= 0.35 and imp["vs_floor_paired_median"] <= 0.35,
        "import_under_0.8_requests_per_resource": imp["requests_per_resource"] < 0.8,
        "reimport_zero_writes": re_["writes"] == 0,
        f"reimport_within_{seconds}s": re_["seconds"] <= seconds,
        "reimport_at_most_15_requests": re_["requests"] <= 15,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_yaml = os.environ.get("DEVCLOUD_CLOUDS_YAML", str(REPO / ".devcloud" / "clouds.yaml"))
    parser.add_argument("--clouds-yaml", default=default_yaml, help="devcloud clouds.yaml")
    parser.add_argument("--admin-cloud", default="devcloud-admin")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of export/floor/import/reimport; medians are reported"
    )
    parser.add_argument(
        "--data-dir", default=str(REPO / "bench-out" / "data"), help="data dir of the export (emptied first)"
    )
    parser.add_argument(
        "--json", default=str(REPO / "bench-out" / "bench.json"), help="write the figures here"
    )
    parser.add_argument(
        "--by-url", action="store_true", help="also print the requests of each phase by method and path"
    )
    parser.add_argument("--reseed", action="store_true", help="clean bench-src and seed it from scratch")
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="multiply the tenant (10: 5,000 resources, projects bench-x10-*; seeding takes a while)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="import_resources(concurrency=...)"
    )
    parser.add_argument("--seed-workers", type=int, default=8, help="threads that seed the source project")
    args = parser.parse_args(argv)
    set_scale(args.scale)
    logging.basicConfig(level=logging.WARNING)

    admin, region = load_admin(Path(args.clouds_yaml), args.admin_cloud)
    ensure_projects(admin)
    src = connect(region, PROJECTS[0])
    if args.reseed:
        clean(src, PROJECTS[0])
    t0 = time.perf_counter()
    created = build_tenant(src, reuse=True, workers=args.seed_workers)
    have = count_tenant(src)
    print(
        f"seed {PROJECTS[0]}: {created} created, {TOTAL - created} reused ({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    if have != EXPECTED:
        raise SystemExit(f"bench-src holds {have}, expected {EXPECTED}: re-run with --reseed")

    runs = []
    for i in range(args.repeat):
        print(f"run {i + 1}/{args.repeat}", flush=True)
        # alternate the order of floor and import so that drift of the cloud hits both alike
        runs.append(
            run_once(region, Path(args.data_dir), floor_first=i % 2 == 0, concurrency=args.concurrency)
        )
    phases = summarize(runs)
    print()
    print(
        f"{TOTAL} resources ({', '.join(f'{n} {t}' for t, n in EXPECTED.items())}); "
        f"median of {args.repeat} run(s); vs floor = wall time / floor wall time"
    )
    print_table(phases)
    print(
        f"import/floor per run: {phases['import']['vs_floor_per_run']} "
        f"(median {phases['import']['vs_floor_paired_median']})"
    )
    targets = check_targets(phases)
    print()
    for name, ok in targets.items():
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    if args.by_url:
        for name, p in phases.items():
            print(f"\n{name}: requests by URL")
            print(f"  {'count':>5} {'http s':>7}  request")
            for key, v in p["by_url"].items():
                print(f"  {v['count']:>5} {v['seconds']:>7.2f}  {key}")
    doc = {
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "scale": SCALE,
        "concurrency": args.concurrency,
        "resources": EXPECTED,
        "total": TOTAL,
        "repeat": args.repeat,
        "phases": phases,
        "targets": targets,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    print(f"\nfigures: {path}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
