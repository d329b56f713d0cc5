"""Pre-flight of a wave of servers: everything is checked before the source is touched.

Reads only (both clouds). Checks, for every selected server:

- the record is well formed and its name unique (the destination finds its twin by name);
- the source server still exists, ACTIVE or SHUTOFF;
- every reference resolves in the destination: the destination flavor (after
  ``_migration_params.flavor_name`` / the run's ``flavor_map``; the report says which flavor each
  server gets), image (when the server is recreated from
  it), keypair, security groups (server and ports), networks, subnets, the floating network,
  volume types (after ``volume_type_map`` / ``boot_volume_params``), availability zone;
- fixed IPs are inside their destination subnet's CIDR;
- fixed IPs (Neutron mode) and MACs are not held by another port of the destination network;
  ``floating_ip_mode: existing`` addresses are pre-allocated and free;
- the copy method exists and :meth:`~os_migrate.workload.disk_copy.DiskCopier.check` passes;
- the destination quotas hold the wave: instances, cores, ram, volumes, gigabytes, ports,
  floating IPs (limit - in use - reserved; -1 is unlimited).

Servers whose name is taken in the destination by a server os-migrate did not create are
reported as skipped and need nothing; servers already migrated by an earlier run need nothing.

What a problem does depends on ``on_failure``: ``stop`` (default) raises one
:class:`~os_migrate.exceptions.ValidationError` listing every problem; ``skip`` turns the problems
of a server into a skip entry of that server (every problem in its reason) and lets the others
go on. A quota shortfall of the wave is, with ``skip``, resolved first fit in record order: each
server is kept while the quota left after the servers kept before it holds it, otherwise it is
skipped with the quota's numbers in its reason. Problems not tied to a server (an unreachable
cloud, bad records or filters, duplicate names) always raise.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from openstack import exceptions as sdk_exc

from os_migrate.api_rules import host_ip_errors
from os_migrate.cloud import check_connection, find_or_none
from os_migrate.exceptions import AmbiguousReference, ValidationError
from os_migrate.filters import Filters
from os_migrate.references import RefIndex, ref_str
from os_migrate.workload import cloudops
from os_migrate.workload.disk_copy import COPIERS, make_copier
from os_migrate.workload.disks import disk_plan
from os_migrate.workload.errors import WorkloadError
from os_migrate.workload.migrate import destination_server, missing_pieces
from os_migrate.workload.records import WORKLOADS, Server, check_flavor_map
from os_migrate.workload.store import load_servers

LOG = logging.getLogger(__name__)

#: Pre-flight policies: raise on any problem, or skip the servers that have one.
ON_FAILURE_STOP, ON_FAILURE_SKIP = "stop", "skip"
ON_FAILURE = (ON_FAILURE_STOP, ON_FAILURE_SKIP)

#: Quota names checked, per service.
COMPUTE_QUOTAS = ("instances", "cores", "ram")
VOLUME_QUOTAS = ("volumes", "gigabytes")
NETWORK_QUOTAS = ("port", "floatingip")


def select_servers(
    data_dir: str | Path,
    servers: list | None,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
) -> list[Server]:
    """The records selected by the name filter, with ``overrides`` and ``flavor_map`` applied.

    :raises ValidationError: bad filter, bad records, bad flavor map, or duplicate names among
        the selected.
    """
    flavor_map = check_flavor_map(flavor_map)
    flt = Filters({WORKLOADS: servers} if servers is not None else None, (WORKLOADS,))
    chosen = [
        s.with_overrides(overrides).with_flavor_map(flavor_map)
        for s in load_servers(data_dir)
        if flt.selects(WORKLOADS, s.name)
    ]
    dups = [n for n, c in Counter(s.name for s in chosen).items() if c > 1]
    if dups:
        raise ValidationError(
            [
                f"server name {n!r} is used by several source servers; the "
                "destination finds servers by name, rename them first"
                for n in sorted(dups)
            ]
        )
    return chosen


def preflight(
    src,
    dst,
    data_dir: str | Path,
    *,
    servers: list | None = None,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
    on_failure: str = ON_FAILURE_STOP,
) -> dict:
    """Check that the selected servers can be migrated; change nothing anywhere.

    :param src: source connection.
    :param dst: destination connection.
    :param data_dir: data dir holding ``workloads.yml``.
    :param servers: name filter (names and ``{"regex": ...}``); None selects every record.
    :param overrides: ``_migration_params`` values applied to every selected server.
    :param flavor_map: source flavor name -> destination flavor name for the run; a server's own
        ``_migration_params.flavor_name`` wins; an unmapped flavor keeps its name.
    :param ssh_resolver: resolves ``ssh_conn_id`` in conversion host settings (see
        :class:`~os_migrate.workload.disk_copy.CopyContext`).
    :param on_failure: ``stop``: any problem raises; ``skip``: a server with problems (or that
        does not fit the quota left) is skipped, the others go on (see the module docstring).
    :returns: ``{"servers": [every selected name], "migrate": [names to migrate or resume],
        "skip": [{"server", "reason", "preflight"?, "problems"?}] (``preflight: True`` and the
        problem list for servers skipped by ``on_failure: skip``; see :func:`runnable`),
        "done": [names already migrated], "needs": {quota: amount still needed by the servers
        to migrate}, "flavors": {server: {"source", "destination", "field", "vcpus", "ram",
        "disk"}} (servers checked; sizes None when the flavor is missing), "warnings": [...],
        "on_failure": policy}``.
    :raises ValidationError: ``stop``: every problem found, each naming the server and the
        missing or conflicting resource (a missing destination flavor names the field it came
        from: ``params.flavor``, ``_migration_params.flavor_name`` or ``flavor_map['<source>']``);
        either policy: bad records, filters, flavor map, duplicate names, or a bad ``on_failure``.
    :raises CloudError: a cloud is unreachable or refuses the credentials.
    """
    if on_failure not in ON_FAILURE:
        raise ValidationError([f"on_failure: {on_failure!r} is not one of {', '.join(ON_FAILURE)}"])
    chosen = select_servers(data_dir, servers, overrides, flavor_map)
    check_connection(src)
    check_connection(dst)
    checker = _Checker(src, dst, ssh_resolver)
    report: dict[str, Any] = {
        "servers": [s.name for s in chosen],
        "migrate": [],
        "skip": [],
        "done": [],
        "needs": {},
        "flavors": {},
        "warnings": [],
        "on_failure": on_failure,
    }
    for server in chosen:
        existing, ours = destination_server(dst, server)
        if existing is not None and not ours:
            report["skip"].append(
                {
                    "server": server.name,
                    "reason": (
                        f"a server named {server.name!r} already exists in the destination "
                        f"({existing.id}) and was not created by os-migrate"
                    ),
                }
            )
            continue
        if ours and not missing_pieces(dst, server, existing):
            report["done"].append(server.name)
            continue
        checker.check_server(server, resuming=existing.id if ours else None)
        problems = checker.server_errors.get(server.name)
        if problems and on_failure == ON_FAILURE_SKIP:
            checker.drop(server.name)
            report["skip"].append(_preflight_skip(server.name, problems))
            continue
        report["migrate"].append(server.name)
    if on_failure == ON_FAILURE_SKIP:
        for name, reason in checker.fit_quotas(report["migrate"]).items():
            report["migrate"].remove(name)
            report["skip"].append(_preflight_skip(name, [reason]))
    else:
        checker.check_quotas()
    report["needs"] = dict(+checker.needs)
    report["flavors"] = checker.flavors
    report["warnings"] = checker.warnings
    if checker.errors and on_failure == ON_FAILURE_STOP:
        raise ValidationError(checker.errors)
    for skip in report["skip"]:
        if skip.get("preflight"):
            LOG.warning("pre-flight: skipping %s: %s", skip["server"], skip["reason"])
    LOG.info(
        "pre-flight passed: migrate %s, skip %s, already done %s; needs %s",
        report["migrate"],
        [s["server"] for s in report["skip"]],
        report["done"],
        report["needs"],
    )
    return report


def runnable(report: Mapping[str, Any]) -> list[str]:
    """The selected servers whose per-server steps run: every selected server but those
    skipped by pre-flight (``on_failure: skip``). Servers skipped because their name is taken
    stay in the list: their steps skip them (and the summary says why)."""
    blocked = {s["server"] for s in report.get("skip", []) if s.get("preflight")}
    return [n for n in report.get("servers", []) if n not in blocked]


def _preflight_skip(name: str, problems: list[str]) -> dict[str, Any]:
    return {
        "server": name,
        "reason": "pre-flight: " + "; ".join(problems),
        "preflight": True,
        "problems": list(problems),
    }


def flavor_choice(server: Server, flavor) -> dict[str, Any]:
    """Which destination flavor ``server`` gets, for the pre-flight report.

    :param flavor: the destination flavor found (an openstacksdk ``Flavor``), or None.
    :returns: ``{"source", "destination", "field", "vcpus", "ram", "disk"}`` (ram in MiB, disk in
        GiB; the sizes are None when the flavor is missing).
    """
    return {
        "source": server.source_flavor_name,
        "destination": server.flavor_name,
        "field": server.flavor_field,
        "vcpus": None if flavor is None else int(flavor.vcpus or 0),
        "ram": None if flavor is None else int(flavor.ram or 0),
        "disk": None if flavor is None else int(flavor.disk or 0),
    }


def flavor_line(server_name: str, choice: Mapping[str, Any]) -> str:
    """One line saying which flavor a server gets, e.g. ``server 'web-1': flavor m1.small ->
    m1.medium (flavor_map['m1.small']; 2 vCPU, 2048 MiB RAM, 20 GiB disk)``."""
    sizes = (
        "missing in the destination"
        if choice.get("vcpus") is None
        else f"{choice['vcpus']} vCPU, {choice['ram']} MiB RAM, {choice['disk']} GiB disk"
    )
    if choice["destination"] == choice["source"] and choice["field"] == "params.flavor":
        return f"server {server_name!r}: flavor {choice['source']} ({sizes})"
    return (
        f"server {server_name!r}: flavor {choice['source']} -> {choice['destination']} "
        f"({choice['field']}; {sizes})"
    )


class _Checker:
    """Accumulates errors, warnings and quota needs over a wave."""

    def __init__(self, src, dst, ssh_resolver=None):
        self.src = src
        self.dst = dst
        self.ssh_resolver = ssh_resolver
        self.refs = RefIndex(dst)
        self.errors: list[str] = []
        self.server_errors: dict[str, list[str]] = {}  # server name -> its problems
        self.warnings: list[str] = []
        self.needs: Counter[str] = Counter()
        self.server_needs: dict[str, Counter[str]] = {}  # server name -> what it alone needs
        self.flavors: dict[str, dict[str, Any]] = {}
        self._flavors: dict[str, Any] | None = None
        self._types: set[str] | None = None
        self._keypairs: set[str] | None = None
        self._zones: set[str] | None = None
        self._copier_problems: dict[str, list[str]] = {}  # method + settings (JSON) -> problems
        self._ports: dict[str, list] = {}

    # -- lazy destination listings ----------------------------------------------------------------
    def flavor(self, name: str):
        if self._flavors is None:
            self._flavors = {
                f.name: f for f in cloudops.call(lambda: list(self.dst.compute.flavors(details=True)))
            }
        return self._flavors.get(name) or cloudops.call(find_or_none, self.dst.compute.find_flavor, name)

    def volume_types(self) -> set[str]:
        if self._types is None:
            self._types = {t.name for t in cloudops.call(lambda: list(self.dst.block_storage.types()))}
        return self._types

    def keypairs(self) -> set[str]:
        if self._keypairs is None:
            self._keypairs = {k.name for k in cloudops.call(lambda: list(self.dst.compute.keypairs()))}
        return self._keypairs

    def zones(self) -> set[str]:
        if self._zones is None:
            self._zones = {z.name for z in cloudops.call(lambda: list(self.dst.compute.availability_zones()))}
        return self._zones

    def network_ports(self, network_id: str) -> list:
        if network_id not in self._ports:
            self._ports[network_id] = list(
                cloudops.call(lambda: list(self.dst.network.ports(network_id=network_id)))
            )
        return self._ports[network_id]

    # -- checks ------------------------------------------------------------------------------------
    def error(self, server: Server, message: str) -> None:
        self.errors.append(f"server {server.name!r}: {message}")
        self.server_errors.setdefault(server.name, []).append(message)

    def drop(self, name: str) -> None:
        """Forget a server skipped by the policy: its errors and what it needed."""
        prefix = f"server {name!r}: "
        self.errors = [e for e in self.errors if not e.startswith(prefix)]
        self.needs -= self.server_needs.pop(name, Counter())

    def find(self, server: Server, kind: str, ref, field: str):
        """Resolve a reference in the destination; record an error naming it when it fails."""
        if not ref or not ref.get("name"):
            self.error(
                server,
                f"{field}: the source {kind} {(ref or {}).get('id', '?')} could not be named at export",
            )
            return None
        try:
            found = self.refs.find(kind, ref, required=False)
        except AmbiguousReference as e:
            self.error(server, f"{field}: {e}")
            return None
        if found is None:
            self.error(
                server, f"{field}: {kind.replace('_', ' ')} {ref_str(ref)} not found in the destination"
            )
        return found

    def _check_root_disk(self, server: Server, flavor, image) -> None:
        """A server recreated from an image needs a flavor whose root disk holds the image: Nova
        refuses the boot otherwise (``FlavorDiskSmallerThanImage``/``...MinDisk``), which would
        come after the source was stopped. A 0 GiB root disk is sized by Nova from the image."""
        root = int(flavor.disk or 0)
        if root == 0:
            return
        need = max(
            int(getattr(image, "min_disk", 0) or 0), -(-int(getattr(image, "size", 0) or 0) // cloudops.GIB)
        )
        if need > root:
            self.error(
                server,
                f"{server.flavor_field}: flavor {server.flavor_name!r} has a {root} GiB root disk; image "
                f"{image.name!r} needs {need} GiB (its size or min_disk)",
            )

    def check_server(self, server: Server, *, resuming: str | None) -> None:
        """Check one server; ``resuming`` is the id of our unfinished destination server."""
        before = Counter(self.needs)
        try:
            self._check_server(server, resuming=resuming)
        finally:
            self.server_needs[server.name] = self.needs - before

    def _check_server(self, server: Server, *, resuming: str | None) -> None:
        p, mp = server.params, server.migration_params
        source = cloudops.get_server(self.src, server.source_id) if server.source_id else None
        if source is None:
            self.error(server, f"the source server {server.source_id} no longer exists")
        elif source.status not in ("ACTIVE", "SHUTOFF"):
            self.error(server, f"the source server is {source.status}; it must be ACTIVE or SHUTOFF")
        flavor = self.flavor(server.flavor_name)
        self.flavors[server.name] = flavor_choice(server, flavor)
        if flavor is None:
            self.error(
                server, f"{server.flavor_field}: flavor {server.flavor_name!r} not found in the destination"
            )
        uses_image = not server.is_volume_backed() and not mp["boot_disk_copy"]
        if uses_image:
            image = self.find(server, "image", p.get("image"), "params.image")
            if image is not None and flavor is not None:
                self._check_root_disk(server, flavor, image)
        if p.get("key_name") and p["key_name"] not in self.keypairs():
            self.error(
                server,
                f"params.key_name: keypair {p['key_name']!r} not found in the "
                "destination (keypairs belong to the user of the destination connection)",
            )
        for i, sg in enumerate(p.get("security_groups") or []):
            self.find(server, "security_group", sg, f"params.security_groups[{i}]")
        if p.get("server_group"):
            self.find(server, "server_group", p["server_group"], "params.server_group")
        if p.get("availability_zone") and p["availability_zone"] not in self.zones():
            self.error(
                server,
                f"params.availability_zone: availability zone "
                f"{p['availability_zone']!r} not found in the destination",
            )
        self._check_ports(server, resuming)
        self._check_floating_ips(server)
        self._check_volumes(server, flavor)
        method = mp["copy_method"]
        settings = mp.get("copy_settings") or {}
        checked = json.dumps([method, settings], sort_keys=True, default=str)
        if method not in COPIERS:
            self.error(server, f"_migration_params.copy_method: unknown method {method!r}")
        else:
            if checked not in self._copier_problems:
                try:
                    copier = make_copier(
                        method, self.src, self.dst, ssh_resolver=self.ssh_resolver, **settings
                    )
                    self._copier_problems[checked] = copier.check()
                    copier.close()
                except WorkloadError as e:
                    self._copier_problems[checked] = [str(e)]
            for problem in self._copier_problems[checked]:
                self.error(server, problem)
        if not resuming:
            self.needs["instances"] += 1
            if flavor is not None:
                self.needs["cores"] += int(flavor.vcpus or 0)
                self.needs["ram"] += int(flavor.ram or 0)

    def _check_ports(self, server: Server, resuming: str | None) -> None:
        neutron = server.migration_params["port_creation_mode"] == "neutron"
        for i, port in enumerate(server.ports):
            where = f"params.ports[{i}]"
            net = self.find(server, "network", port.get("network"), f"{where}.network")
            for j, fixed in enumerate(port.get("fixed_ips") or []):
                subnet = self.find(server, "subnet", fixed.get("subnet"), f"{where}.fixed_ips[{j}].subnet")
                if subnet is not None and net is not None and subnet.network_id != net.id:
                    self.error(
                        server,
                        f"{where}.fixed_ips[{j}]: subnet {subnet.name!r} is not on "
                        f"network {net.name!r} in the destination",
                    )
                if subnet is not None:
                    for e in host_ip_errors(
                        f"{where}.fixed_ips[{j}].ip_address", fixed.get("ip_address"), subnet.cidr
                    ):
                        self.error(server, f"{e} of subnet {subnet.name!r} in the destination")
            for k, sg in enumerate(port.get("security_groups") or []):
                if neutron:
                    self.find(server, "security_group", sg, f"{where}.security_groups[{k}]")
            if net is None:
                continue
            if not neutron:
                fixed = port.get("fixed_ips") or []
                if len(fixed) > 1:
                    self.warnings.append(
                        f"server {server.name!r}: NIC {i} has {len(fixed)} fixed "
                        "IPs; port_creation_mode nova keeps only the first"
                    )
            mine = {port.get("mac_address")}
            for other in self.network_ports(net.id):
                if resuming and other.device_id == resuming:
                    continue
                if other.mac_address in mine and neutron:
                    if other.device_id and not resuming:
                        self.error(
                            server,
                            f"{where}.mac_address: {other.mac_address} is used by "
                            f"port {other.id} in destination network {net.name!r}",
                        )
                    continue
                taken = {f["ip_address"] for f in other.fixed_ips or []}
                for f in (port.get("fixed_ips") or [])[: None if neutron else 1]:
                    if f["ip_address"] in taken:
                        self.error(
                            server,
                            f"{where}: fixed IP {f['ip_address']} is used by port "
                            f"{other.id} in destination network {net.name!r}",
                        )
            if not resuming:
                self.needs["port"] += 1

    def _check_floating_ips(self, server: Server) -> None:
        mode = server.migration_params["floating_ip_mode"]
        if mode == "skip":
            return
        for i, fip in enumerate(server.floating_ips):
            where = f"params.floating_ips[{i}]"
            self.find(server, "network", fip.get("floating_network"), f"{where}.floating_network")
            pre = [
                f
                for f in cloudops.listing(
                    self.dst.network.ips,
                    floating_ip_address=fip["floating_ip_address"],
                    project_id=self.dst.current_project_id,
                )
                if not f.port_id
            ]
            if mode == "existing" and not pre:
                self.error(
                    server,
                    f"{where}: floating IP {fip['floating_ip_address']} is not "
                    "pre-allocated (and free) in the destination project "
                    "(floating_ip_mode existing)",
                )
            if not pre:
                self.needs["floatingip"] += 1

    def _check_volumes(self, server: Server, flavor) -> None:
        try:
            plan = disk_plan(server, flavor_disk=int(getattr(flavor, "disk", 0) or 0))
        except KeyError as e:
            self.error(server, str(e).strip("'\""))
            return
        types = self.volume_types()
        for disk in plan:
            t = disk.spec.volume_type
            if t and t not in types:
                self.error(
                    server,
                    f"{disk.source.label}: volume type {t!r} not found in the "
                    "destination (map it with _migration_params.volume_type_map)",
                )
            done = [
                v
                for v in cloudops.volumes_with_marker(self.dst, disk.source.id)
                if (v.metadata or {}).get(cloudops.SHA256_KEY)
            ]
            if not done:
                self.needs["volumes"] += 1
                self.needs["gigabytes"] += int(disk.spec.size)

    def quota_left(self) -> dict[str, tuple[int, int]]:
        """``{quota name: (limit, in use or reserved)}`` of the destination quotas the wave needs
        (unlimited ones and unreadable services left out, with a warning for the latter)."""
        if not +self.needs:
            return {}
        pid = self.dst.current_project_id
        sources = (
            (
                "compute",
                COMPUTE_QUOTAS,
                lambda: self.dst.compute.get(f"/os-quota-sets/{pid}/detail").json()["quota_set"],
            ),
            (
                "block storage",
                VOLUME_QUOTAS,
                lambda: self.dst.block_storage.get(f"/os-quota-sets/{pid}?usage=True").json()["quota_set"],
            ),
            (
                "network",
                NETWORK_QUOTAS,
                lambda: self.dst.network.get(f"/quotas/{pid}/details.json").json()["quota"],
            ),
        )
        left: dict[str, tuple[int, int]] = {}
        for service, names, fetch in sources:
            if not any(self.needs.get(n) for n in names):
                continue
            try:
                quota = cloudops.call(fetch)
            except (sdk_exc.SDKException, KeyError, ValueError) as e:
                self.warnings.append(f"cannot read the destination {service} quotas ({e}); not checked")
                continue
            for name in names:
                entry = quota.get(name)
                if not self.needs.get(name) or not isinstance(entry, Mapping):
                    continue
                limit = int(entry.get("limit", -1))
                if limit < 0:
                    continue
                used = int(entry.get("in_use", entry.get("used", 0)) or 0) + int(
                    entry.get("reserved", 0) or 0
                )
                left[name] = (limit, used)
        return left

    def check_quotas(self) -> None:
        """Record an error per quota the whole wave exceeds."""
        for name, (limit, used) in self.quota_left().items():
            need = self.needs.get(name, 0)
            if used + need > limit:
                self.errors.append(
                    f"destination quota {name}: the wave needs {need}, {limit - used} of "
                    f"{limit} left ({used} in use or reserved)"
                )

    def fit_quotas(self, names: list[str]) -> dict[str, str]:
        """First fit in record order: the servers of ``names`` that do not fit the quota left
        after the ones kept before them, with the reason; their needs are dropped.

        :returns: ``{server name: reason}`` of the servers to skip.
        """
        quotas = self.quota_left()
        taken: Counter[str] = Counter()
        out: dict[str, str] = {}
        for name in names:
            need = self.server_needs.get(name, Counter())
            short = [
                f"destination quota {q}: the server needs {need[q]}, {limit - used - taken[q]} of "
                f"{limit} left after the servers before it ({used} in use or reserved)"
                for q, (limit, used) in quotas.items()
                if need.get(q) and used + taken[q] + need[q] > limit
            ]
            if short:
                out[name] = "; ".join(short)
                self.needs -= self.server_needs.pop(name, Counter())
            else:
                taken += need
        return out
