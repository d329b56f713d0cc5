"""Managed conversion hosts: deploy a helper server in a project, and remove all it made.

:func:`deploy_host` makes (or finds again) everything of one deployment, each named
``osm-convhost-<name>`` in the project of ``conn``::

    keypair         ed25519, generated here; its private key in <key_dir>/<name>.key (0600)
    security group  ingress TCP 22 from the ``allow_from`` CIDRs only (plus Neutron's egress rules)
    port            on ``network``, with that group only
    floating IP     from ``floating_network``, on that port (only when one is given; its
                    description is the deployment's name)
    server          from ``image`` and ``flavor``, on that port, with that keypair

It waits until the server is ACTIVE, reads its SSH host key from the console log (cloud-init's
``-----BEGIN SSH HOST KEY KEYS-----`` block, read through the authenticated compute API), waits
until SSH answers with that host key and the key file's key and the copy tools run, and writes
``<key_dir>/<name>.json`` with :func:`~os_migrate.workload.conversion_host.write_host_file`, so
``copy_settings.src_host``/``dst_host`` may be ``{"host_file": <that path>}``.

The host key is recorded there at the first deployment. A re-run reuses every resource and the
key file, and refuses (:class:`DeployError`) a host whose console or SSH server shows another
host key than the recorded one. :func:`remove_host` deletes only what carries the deployment's
name. The private key is only ever in the key file: never in the host file, a result dict or a
log line. ``key_dir`` should be outside any data dir whose files are staged or shared.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from openstack import exceptions as sdk_exc

from os_migrate.cloud import find_or_none
from os_migrate.workload import cloudops
from os_migrate.workload.conversion_host import (
    TOOLS_DST,
    TOOLS_SRC,
    ConversionHost,
    HostAccess,
    HostError,
    new_keypair,
    read_private_key_file,
    write_host_file,
)
from os_migrate.workload.errors import CopyError

LOG = logging.getLogger(__name__)

#: Prefix of the name of every resource of a deployment: ``osm-convhost-<name>``.
PREFIX = "osm-convhost-"
#: Server metadata key naming the deployment (a marker for people; lookups go by name).
MARKER_KEY = "os_migrate_managed_host"
#: What a deployment name may be (it also names files in ``key_dir``).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,49}")
#: Tools each role needs: ``(all of, one of)``.
ROLE_TOOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "source": (TOOLS_SRC, ("nbdcopy", "qemu-img")),
    "destination": (TOOLS_DST, ()),
    "both": (tuple(dict.fromkeys(TOOLS_SRC + TOOLS_DST)), ("nbdcopy", "qemu-img")),
}
_HOST_KEYS = re.compile(r"-----BEGIN SSH HOST KEY KEYS-----\s*\n(.*?)-----END SSH HOST KEY KEYS-----", re.S)
#: Host key types, most preferred first.
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


class DeployError(HostError):
    """A deployment conflicts with what exists (a changed host key, a keypair that differs from
    the key file, duplicates, a resource elsewhere) or its arguments are wrong; running it again
    does not help."""

    retryable = False


def resource_name(name: str) -> str:
    """``osm-convhost-<name>``: the name of the deployment's keypair, group, port and server.

    :raises DeployError: ``name`` is not 1-50 of ``[A-Za-z0-9_.-]`` starting with a letter or digit.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DeployError(f"managed host name {name!r}: use 1-50 of [A-Za-z0-9_.-], starting alphanumeric")
    return PREFIX + name


def key_path(key_dir: str | os.PathLike, name: str) -> Path:
    """``<key_dir>/<name>.key``: the deployment's private key (OpenSSH, 0600)."""
    resource_name(name)
    return Path(key_dir) / f"{name}.key"


def host_file_path(key_dir: str | os.PathLike, name: str) -> Path:
    """``<key_dir>/<name>.json``: the host file (no secret) for ``copy_settings``."""
    resource_name(name)
    return Path(key_dir) / f"{name}.json"


@dataclass(frozen=True)
class ManagedHost:
    """A deployed host.

    :param name: the deployment name; its resources are called ``osm-convhost-<name>``.
    :param access: how to reach it (holds the private key; ``repr`` hides it).
    :param host_file: JSON for ``copy_settings.<side>_host.host_file``.
    :param key_file: the private key file (0600).
    :param fixed_ip: the port's IPv4 (else first) fixed IP.
    :param floating_ip: its floating IP address, or None.
    :param created: what this call made, e.g. ``("keypair osm-convhost-a", "server osm-convhost-a (<id>)")``;
        empty when everything was reused.
    """

    name: str
    access: HostAccess
    host_file: Path
    key_file: Path
    server_id: str
    port_id: str
    security_group_id: str
    fixed_ip: str
    floating_ip: str | None
    created: tuple[str, ...]

    def settings(self) -> dict[str, str]:
        """``{"host_file": <path>}``: the value of ``copy_settings.src_host``/``dst_host``."""
        return {"host_file": str(self.host_file)}

    def summary(self) -> dict[str, Any]:
        """Plain data about the host, no secret (for logs and XCom)."""
        return {
            "name": self.name,
            "server": self.access.name,
            "server_id": self.server_id,
            "address": self.access.address,
            "peer_address": self.access.peer_address,
            "fixed_ip": self.fixed_ip,
            "floating_ip": self.floating_ip,
            "host_key": self.access.host_key,
            "host_file": str(self.host_file),
            "key_file": str(self.key_file),
            "created": list(self.created),
        }


# -- deploy ----------------------------------------------------------------------------------------


def deploy_host(
    conn,
    *,
    name: str,
    image: str,
    flavor: str,
    network: str,
    key_dir: str | os.PathLike,
    floating_network: str | None = None,
    allow_from: Iterable[str] = (),
    address: str = "fixed",
    peer_network: str | None = None,
    role: str = "both",
    username: str = "root",
    wait: float = 600.0,
) -> ManagedHost:
    """Make (or find again) a conversion host in ``conn``'s project and wait until it is usable.

    :param conn: openstacksdk connection of the host's project.
    :param name: deployment name (see :func:`resource_name`).
    :param image: image name or id (an image that starts sshd and has the copy tools).
    :param flavor: flavor name or id.
    :param network: network name or id for the host's port.
    :param key_dir: directory of the key and host files (made 0700 if missing).
    :param floating_network: external network name or id; when given, a floating IP goes on the port.
    :param allow_from: CIDRs (or bare addresses) allowed to reach TCP 22: the migrator and the peer
        host. Rules of the group not in this list are removed, so a re-run may change it.
    :param address: ``fixed`` or ``floating``: which address the migrator connects to.
    :param peer_network: name or id of the network the peer host's port is on; when it is
        ``network``, the peer reaches this host at its fixed IP, otherwise at its floating IP
        (its fixed IP when it has none).
    :param role: ``source``, ``destination`` or ``both``: which tools must run (``ROLE_TOOLS``).
    :param username: login user (root rights needed by the copy).
    :param wait: seconds the whole deployment may take (server ACTIVE, host key, SSH, tools).
    :raises DeployError: wrong arguments, a missing image/flavor/network, or a conflict (see the class).
    :raises HostError: the host did not become usable within ``wait`` (the message names it).
    """
    rname = resource_name(name)
    if address not in ("fixed", "floating"):
        raise DeployError(f"{rname}: address must be 'fixed' or 'floating', not {address!r}")
    if address == "floating" and not floating_network:
        raise DeployError(f"{rname}: address 'floating' needs a floating_network")
    if role not in ROLE_TOOLS:
        raise DeployError(f"{rname}: role must be one of {', '.join(ROLE_TOOLS)}, not {role!r}")
    cidrs = _cidrs(rname, allow_from)
    deadline = time.monotonic() + wait
    kdir = Path(key_dir)
    kdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    created: list[str] = []

    image_id = _find(rname, "image", conn.image.find_image, image)
    flavor_id = _find(rname, "flavor", conn.compute.find_flavor, flavor)
    network_id = _find(rname, "network", conn.network.find_network, network)
    fnet_id = (
        _find(rname, "network", conn.network.find_network, floating_network) if floating_network else None
    )
    peer_net_id = _find(rname, "network", conn.network.find_network, peer_network) if peer_network else None

    server = _existing_server(conn, rname, deadline)
    kfile = key_path(kdir, name)
    if server is not None and not kfile.exists():
        raise DeployError(
            f"{rname}: the server exists but its key file {kfile} is gone; run remove_host and deploy again"
        )
    private, public = _ensure_key_file(kfile, rname, created)
    _ensure_keypair(conn, rname, public, server_exists=server is not None, created=created)
    group = _ensure_security_group(conn, rname, cidrs, created)
    port = _ensure_port(conn, rname, network_id, group.id, server, created)
    fip = _ensure_floating_ip(conn, rname, port, fnet_id, created) if fnet_id else None

    if server is None:
        LOG.info("%s: creating the server (image %s, flavor %s, port %s)", rname, image, flavor, port.id)
        server = conn.compute.create_server(
            name=rname,
            image_id=image_id,
            flavor_id=flavor_id,
            key_name=rname,
            networks=[{"port": port.id}],
            metadata={MARKER_KEY: name},
        )
        created.append(f"server {rname} ({server.id})")
    elif server.status == "SHUTOFF":
        LOG.info("%s: starting the stopped server %s", rname, server.id)
        conn.compute.start_server(server)
    server = cloudops.wait_server(
        conn, server.id, "ACTIVE", what=f"conversion host {rname}", timeout=_left(deadline), error=HostError
    )

    hfile = host_file_path(kdir, name)
    host_key = _host_key(conn, rname, server, _recorded_host_key(hfile, server.id), deadline)
    port = conn.network.get_port(port.id)
    fixed_ip = _fixed_ip(rname, port)
    fip_address = fip.floating_ip_address if fip is not None else None
    peer = fixed_ip if (peer_net_id == network_id or fip_address is None) else fip_address
    access = HostAccess(
        server=server.id,
        address=fip_address if address == "floating" and fip_address else fixed_ip,
        host_key=host_key,
        private_key=private,
        username=username,
        peer_address=peer,
        name=rname,
    )
    _wait_usable(conn, access, role, deadline)
    write_host_file(hfile, access, private_key_file=str(kfile))
    host = ManagedHost(
        name=name,
        access=access,
        host_file=hfile,
        key_file=kfile,
        server_id=server.id,
        port_id=port.id,
        security_group_id=group.id,
        fixed_ip=fixed_ip,
        floating_ip=fip_address,
        created=tuple(created),
    )
    LOG.info(
        "%s: ready at %s (peer address %s), host key %s; %s",
        rname, access.address, peer, _short(host_key),
        "made " + ", ".join(created) if created else "all reused",
    )  # fmt: skip
    return host


def _left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())


def _short(host_key: str) -> str:
    keytype, blob = (host_key.split() + ["", ""])[:2]
    return f"{keytype} {blob[:16]}..."


def _cidrs(rname: str, allow_from: Iterable[str]) -> list[str]:
    if isinstance(allow_from, str):
        allow_from = [allow_from]
    out = []
    for value in allow_from:
        try:
            out.append(str(ipaddress.ip_network(str(value).strip(), strict=True)))
        except ValueError as e:
            raise DeployError(f"{rname}: allow_from {value!r} is not a CIDR or an address ({e})") from e
    if not out:
        raise DeployError(f"{rname}: allow_from is empty; give the migrator's and the peer host's addresses")
    return sorted(set(out))


def _find(rname: str, kind: str, finder, name_or_id: str) -> str:
    found = cloudops.call(find_or_none, finder, name_or_id)
    if found is None:
        raise DeployError(f"{rname}: {kind} {name_or_id!r} not found")
    return found.id


def _existing_server(conn, rname: str, deadline: float):
    """The deployment's server, or None (a server in ERROR is deleted so it is made again)."""
    servers = cloudops.servers_named(conn, rname)
    if len(servers) > 1:
        ids = ", ".join(s.id for s in servers)
        raise DeployError(f"{rname}: {len(servers)} servers have this name ({ids}); run remove_host first")
    if not servers:
        return None
    server = servers[0]
    if server.status == "ERROR":
        LOG.warning("%s: server %s is in ERROR; deleting it to make it again", rname, server.id)
        conn.compute.delete_server(server)
        cloudops.wait_server_gone(conn, server.id, what=f"failed server {rname}", timeout=_left(deadline))
        return None
    return server


def public_key_of(private: str) -> str:
    """``<type> <base64>`` of an OpenSSH private key's public half (no comment)."""
    key = serialization.load_ssh_private_key(private.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _ensure_key_file(path: Path, rname: str, created: list[str]) -> tuple[str, str]:
    """``(private, public)`` from the key file, generated (0600, atomically) when missing."""
    if path.exists():
        private = read_private_key_file(path, where=f"{rname} key file")
        try:
            return private, public_key_of(private)
        except (ValueError, TypeError) as e:
            raise DeployError(f"{rname}: {path} is not an unencrypted OpenSSH private key") from e
    private, public = new_keypair(rname)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private)
    os.replace(tmp, path)
    created.append(f"key file {path}")
    return private, " ".join(public.split()[:2])


def _ensure_keypair(conn, rname: str, public: str, *, server_exists: bool, created: list[str]) -> None:
    keypair = cloudops.call(find_or_none, conn.compute.find_keypair, rname)
    if keypair is not None and (keypair.public_key or "").split()[:2] != public.split()[:2]:
        if server_exists:
            raise DeployError(
                f"{rname}: keypair {rname} differs from the key file and the server was booted with it; "
                "run remove_host and deploy again"
            )
        LOG.info("%s: replacing keypair %s (it differs from the key file)", rname, rname)
        conn.compute.delete_keypair(keypair)
        keypair = None
    if keypair is None:
        conn.compute.create_keypair(name=rname, public_key=f"{public} {rname}")
        created.append(f"keypair {rname}")


def _named(items: Iterable[Any], rname: str) -> list:
    return [i for i in items if i.name == rname]


def _ensure_security_group(conn, rname: str, cidrs: list[str], created: list[str]):
    project = conn.current_project_id
    groups = _named(cloudops.listing(conn.network.security_groups, name=rname, project_id=project), rname)
    if len(groups) > 1:
        raise DeployError(f"{rname}: {len(groups)} security groups have this name; run remove_host first")
    if groups:
        group = groups[0]
    else:
        group = conn.network.create_security_group(
            name=rname, description=f"os-migrate conversion host {rname}: SSH from the migrator and its peer"
        )
        created.append(f"security group {rname} ({group.id})")
    wanted = set(cidrs)
    for rule in cloudops.listing(conn.network.security_group_rules, security_group_id=group.id):
        if rule.direction != "ingress":
            continue
        ssh_only = rule.protocol == "tcp" and rule.port_range_min == 22 and rule.port_range_max == 22
        if ssh_only and not rule.remote_group_id and rule.remote_ip_prefix in wanted:
            wanted.discard(rule.remote_ip_prefix)
            continue
        LOG.info("%s: removing ingress rule %s (%s)", rname, rule.id, rule.remote_ip_prefix)
        conn.network.delete_security_group_rule(rule.id)
    for cidr in sorted(wanted):
        conn.network.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            ethertype=f"IPv{ipaddress.ip_network(cidr).version}",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix=cidr,
        )
        LOG.info("%s: allowing SSH from %s", rname, cidr)
    return group


def _ensure_port(conn, rname: str, network_id: str, group_id: str, server, created: list[str]):
    project = conn.current_project_id
    ports = _named(cloudops.listing(conn.network.ports, name=rname, project_id=project), rname)
    if len(ports) > 1:
        raise DeployError(f"{rname}: {len(ports)} ports have this name; run remove_host first")
    if not ports:
        if server is not None:
            raise DeployError(f"{rname}: the server exists but its port is gone; run remove_host first")
        port = conn.network.create_port(
            name=rname,
            network_id=network_id,
            security_group_ids=[group_id],
            description=f"os-migrate conversion host {rname}",
        )
        created.append(f"port {rname} ({port.id})")
        return port
    port = ports[0]
    if port.network_id != network_id:
        raise DeployError(f"{rname}: port {port.id} is on network {port.network_id}, not {network_id}")
    owner = port.device_id or ""
    if owner and (server is None or owner != server.id):
        raise DeployError(f"{rname}: port {port.id} is used by device {owner}, not by this host's server")
    if list(port.security_group_ids or []) != [group_id]:
        conn.network.update_port(port, security_group_ids=[group_id])
    return port


def _ensure_floating_ip(conn, rname: str, port, network_id: str, created: list[str]):
    ips = cloudops.listing(conn.network.ips, port_id=port.id)
    if ips:
        return ips[0]
    project = conn.current_project_id
    loose = [
        ip
        for ip in cloudops.listing(conn.network.ips, project_id=project)
        if ip.description == rname and not ip.port_id
    ]
    if loose:  # made by an interrupted run
        return conn.network.update_ip(loose[0], port_id=port.id)
    ip = conn.network.create_ip(floating_network_id=network_id, port_id=port.id, description=rname)
    created.append(f"floating IP {ip.floating_ip_address}")
    return ip


def _fixed_ip(rname: str, port) -> str:
    addresses = [f["ip_address"] for f in port.fixed_ips or []]
    if not addresses:
        raise HostError(f"{rname}: port {port.id} has no fixed IP")
    v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    return (v4 or addresses)[0]


def host_key_from_console(text: str) -> str | None:
    """``<type> <base64>`` of the preferred host key of the last cloud-init host key block in a
    console log (ed25519, then ecdsa, then rsa), or None when there is no block."""
    blocks = _HOST_KEYS.findall(text or "")
    if not blocks:
        return None
    keys = {}
    for line in blocks[-1].splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] not in keys:
            keys[parts[0]] = f"{parts[0]} {parts[1]}"
    for keytype in _KEY_TYPES:
        if keytype in keys:
            return keys[keytype]
    return next(iter(keys.values()), None)


def _recorded_host_key(hfile: Path, server_id: str) -> str | None:
    """The host key the host file recorded for this very server, or None."""
    try:
        recorded = json.loads(hfile.read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("server") != server_id:
        return None
    return recorded.get("host_key") or None


def _console_key(conn, server) -> str | None:
    try:
        output = cloudops.call(conn.compute.get_server_console_output, server)
    except sdk_exc.SDKException as e:  # some clouds have no console log; reported by the caller
        LOG.debug("console log of %s unreadable: %s", server.id, e)
        return None
    return host_key_from_console((output or {}).get("output") or "")


def _host_key(conn, rname: str, server, recorded: str | None, deadline: float) -> str:
    """The host key to trust: the recorded one (checked against the console when it shows one),
    else the console's (waited for)."""
    while True:
        shown = _console_key(conn, server)
        if recorded is not None:
            if shown is not None and shown.split()[:2] != recorded.split()[:2]:
                raise DeployError(
                    f"conversion host {rname}: its host key changed (console shows {_short(shown)}, "
                    f"recorded {_short(recorded)}); refusing it"
                )
            return recorded
        if shown is not None:
            LOG.info("%s: host key from the console log: %s", rname, _short(shown))
            return shown
        if time.monotonic() > deadline:
            raise HostError(f"conversion host {rname}: no SSH host key block in its console log")
        time.sleep(3)


def _wait_usable(conn, access: HostAccess, role: str, deadline: float) -> None:
    """Wait until SSH answers with the host key and the key, and the role's tools run.

    :raises DeployError: the host presents another host key.
    :raises HostError: not usable by the deadline (the last problem, naming the host).
    """
    tools, any_of = ROLE_TOOLS[role]
    host = ConversionHost(conn, access, "conversion")
    problem = "not tried"
    try:
        while True:
            try:
                host.session  # noqa: B018 - opens the SSH session, host key checked
                missing = host.missing_tools(tools, any_of=any_of)
                if not missing:
                    return
                problem = f"{host.label}: missing tool(s): {', '.join(missing)}"
            except (CopyError, paramiko.SSHException, OSError) as e:
                if isinstance(e.__cause__, paramiko.BadHostKeyException):
                    raise DeployError(str(e)) from e
                problem = str(e)
                host.close()
            if time.monotonic() > deadline:
                raise HostError(f"{problem} (still, when the deployment's wait ran out)")
            LOG.debug("waiting for %s: %s", host.label, problem)
            time.sleep(3)
    finally:
        host.close()


# -- remove ----------------------------------------------------------------------------------------


def remove_host(conn, *, name: str, key_dir: str | os.PathLike, wait: float = 300.0) -> list[str]:
    """Delete everything of deployment ``name`` in ``conn``'s project, and its files (idempotent).

    Deleted, in order: servers named ``osm-convhost-<name>`` (waited until gone), floating IPs on
    its ports or described with its name, its ports, security groups, keypair, then
    ``<key_dir>/<name>.key`` and ``<name>.json``. Nothing else is looked at.

    :returns: one line per deleted thing (empty when nothing was left).
    :raises WorkloadError: a server still exists after ``wait`` seconds.
    """
    rname = resource_name(name)
    project = conn.current_project_id
    done: list[str] = []
    for server in cloudops.servers_named(conn, rname):
        conn.compute.delete_server(server)
        cloudops.wait_server_gone(conn, server.id, what=f"conversion host {rname}", timeout=wait)
        done.append(f"server {rname} ({server.id})")
    ports = _named(cloudops.listing(conn.network.ports, name=rname, project_id=project), rname)
    port_ids = {p.id for p in ports}
    for ip in cloudops.listing(conn.network.ips, project_id=project):
        if ip.port_id in port_ids or ip.description == rname:
            conn.network.delete_ip(ip, ignore_missing=True)
            done.append(f"floating IP {ip.floating_ip_address}")
    for port in ports:
        conn.network.delete_port(port, ignore_missing=True)
        done.append(f"port {rname} ({port.id})")
    for group in _named(
        cloudops.listing(conn.network.security_groups, name=rname, project_id=project), rname
    ):
        conn.network.delete_security_group(group, ignore_missing=True)
        done.append(f"security group {rname} ({group.id})")
    if cloudops.call(find_or_none, conn.compute.find_keypair, rname) is not None:
        conn.compute.delete_keypair(rname, ignore_missing=True)
        done.append(f"keypair {rname}")
    for path in (key_path(key_dir, name), host_file_path(key_dir, name)):
        if path.exists():
            path.unlink()
            done.append(f"file {path}")
    if done:
        LOG.info("%s: removed %s", rname, ", ".join(done))
    return done


__all__ = [
    "DeployError",
    "ManagedHost",
    "deploy_host",
    "host_file_path",
    "host_key_from_console",
    "key_path",
    "public_key_of",
    "remove_host",
    "resource_name",
]
