"""The local cloud itself: every process it started listens on loopback only."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from .conftest import CLOUDS_YAML, DEVCLOUD2_HOME, TWO_CLOUDS_HINT

DEVCLOUD_HOME = Path(os.environ.get("DEVCLOUD_HOME", CLOUDS_YAML.parent))

#: Each devcloud's listening ports (devcloud/devcloud.sh: instance 2 is +10000, except the Erlang
#: distribution port, which stays below the kernel's ephemeral range).
CLOUD_PORTS = {
    1: {5000, 9292, 8778, 9696, 8774, 8776, 3306, 5672, 25672, 4369},
    2: {15000, 19292, 18778, 19696, 18774, 18776, 13306, 15672, 26672, 14369},
}


def devcloud_pids(home: Path = DEVCLOUD_HOME) -> set[int]:
    """PIDs from run/*.pid plus every process in their sessions (workers, helpers)."""
    roots = set()
    for pidfile in (home / "run").glob("*.pid"):
        try:
            roots.add(int(pidfile.read_text().split()[0]))
        except (ValueError, IndexError):
            continue
    roots = {p for p in roots if psutil.pid_exists(p)}
    sessions = {os.getsid(p) for p in roots}
    return {p.pid for p in psutil.process_iter() if _sid(p.pid) in sessions} | roots


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def devcloud_listeners(home: Path) -> list[tuple[int, object]]:
    """(pid, laddr) of every listening socket of the devcloud whose state dir is ``home``."""
    pids = devcloud_pids(home)
    return [
        (c.pid, c.laddr)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


@pytest.mark.parametrize("instance", [1, 2])
def test_every_devcloud_listener_is_on_loopback(instance):
    home = DEVCLOUD_HOME if instance == 1 else DEVCLOUD2_HOME
    pids = devcloud_pids(home)
    # mariadb, rabbitmq, epmd, 6 APIs, 5 daemons
    assert len(pids) >= 14, f"cloud {instance}: {len(pids)} processes under {home}/run" + (
        TWO_CLOUDS_HINT if instance == 2 else ""
    )
    listeners = devcloud_listeners(home)
    assert len(listeners) >= 9
    for pid, laddr in listeners:
        assert ipaddress.ip_address(laddr.ip).is_loopback, (psutil.Process(pid).name(), laddr)
    # each cloud listens on its own ports, and on all of them
    assert {laddr.port for _, laddr in listeners} == CLOUD_PORTS[instance]


# Devices and namespaces the devcloud creates for conversion hosts (devcloud/convhost.py).
DEVCLOUD_LINK_PREFIXES = ("dcbr", "dcv")
DEVCLOUD_NETNS_PREFIX = "dcch-"
PEER_TABLE = "4242"


def _ip_json(*args: str) -> list:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def assert_devcloud_routes_and_listeners_stay_local() -> None:
    """No route or listener of the devcloud points outside loopback or its own namespaces.

    Root namespace: a route on a devcloud device (bridge ``dcbr*``, veth ``dcv*``) is a plain
    on-link subnet route of that bridge (no gateway), and no other route leads into a devcloud
    device. Each conversion-host namespace ``dcch-*``: routes only on-link on its own interfaces
    (no gateway, so no default route), IPv4 addresses only, and every listener is on one of its
    own addresses or on loopback. Hosts on the devclouds' external networks (172.24.0.0/16) also
    have an on-link route for that range, and the bridges holding those gateways forward only
    through the peering table (devcloud bridges or unreachable).
    """
    namespaces = [n["name"] for n in _ip_json("netns", "list") if n["name"].startswith(DEVCLOUD_NETNS_PREFIX)]
    ns_addresses: set[ipaddress.IPv4Address] = set()
    for ns in namespaces:
        addrs = [
            ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for link in _ip_json("-n", ns, "addr", "show")
            for a in link.get("addr_info", [])
        ]
        assert all(a.version == 4 for a in addrs), (ns, addrs)
        own = {a.ip for a in addrs}
        ns_addresses |= {a.ip for a in addrs if not a.ip.is_loopback}
        for family in ("-4", "-6"):
            for route in _ip_json("-n", ns, family, "route", "show", "table", "all"):
                if route.get("type") in ("local", "broadcast") or route.get("table") == "local":
                    continue
                assert "gateway" not in route and route["dst"] != "default", (ns, route)
                assert route.get("dev", "").startswith(("eth", "lo")), (ns, route)
        listen = subprocess.run(
            ["ip", "netns", "exec", ns, "ss", "-Hltun"], capture_output=True, text=True, check=True
        ).stdout
        for line in listen.splitlines():
            host = line.split()[4].rsplit(":", 1)[0].strip("[]").split("%")[0]
            addr = ipaddress.ip_address(host)
            assert addr in own or addr.is_loopback, (ns, line)
    for route in _ip_json("-4", "route", "show", "table", "all"):
        dev = route.get("dev", "")
        if not dev.startswith(DEVCLOUD_LINK_PREFIXES):
            continue
        if route.get("type") in ("local", "broadcast") or route.get("table") == "local":
            # the bridge's own gateway address
            assert dev.startswith("dcbr"), route
            continue
        assert "gateway" not in route and dev.startswith("dcbr"), route
        subnet = ipaddress.ip_network(route["dst"])
        assert subnet.is_private, route
    # peering of the external networks (devcloud/convhost.py): what enters from a devcloud bridge
    # is routed by table 4242 only, which leads to devcloud bridges or nowhere
    for rule in _ip_json("-4", "rule", "show"):
        if rule.get("iif", "").startswith(DEVCLOUD_LINK_PREFIXES) or rule.get("table") == PEER_TABLE:
            assert rule.get("table") == PEER_TABLE and rule.get("iif", "").startswith("dcbr"), rule
    for route in _ip_json("-4", "route", "show", "table", PEER_TABLE):
        if route["dst"] == "default":
            assert route.get("type") == "unreachable", route
        else:
            assert route.get("dev", "").startswith("dcbr") and "gateway" not in route, route
    for link in _ip_json("link", "show"):
        name = link["ifname"]
        if name.startswith(DEVCLOUD_LINK_PREFIXES):
            assert not any(
                a.get("family") == "inet6"
                for a in _ip_json("addr", "show", "dev", name)[0].get("addr_info", [])
            ), name
    for route in _ip_json("-4", "route", "show"):
        # routes that are not the devcloud's do not reach a namespace address
        if route.get("dev", "").startswith(DEVCLOUD_LINK_PREFIXES) or route["dst"] == "default":
            continue
        net = ipaddress.ip_network(route["dst"])
        assert not any(a in net for a in ns_addresses), route


def test_devcloud_routes_and_namespace_listeners_stay_local():
    assert_devcloud_routes_and_listeners_stay_local()
