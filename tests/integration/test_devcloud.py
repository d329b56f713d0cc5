"""The local cloud itself: every process it started listens on loopback only."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import psutil

from .conftest import CLOUDS_YAML

DEVCLOUD_HOME = Path(os.environ.get("DEVCLOUD_HOME", CLOUDS_YAML.parent))


def devcloud_pids() -> set[int]:
    """PIDs from run/*.pid plus every process in their sessions (workers, helpers)."""
    roots = set()
    for pidfile in (DEVCLOUD_HOME / "run").glob("*.pid"):
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


def test_every_devcloud_listener_is_on_loopback():
    pids = devcloud_pids()
    assert len(pids) >= 14  # mariadb, rabbitmq, epmd, 6 APIs, 5 daemons
    listeners = [
        (c.pid, c.laddr)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
    assert len(listeners) >= 9
    for pid, laddr in listeners:
        assert ipaddress.ip_address(laddr.ip).is_loopback, (psutil.Process(pid).name(), laddr)
