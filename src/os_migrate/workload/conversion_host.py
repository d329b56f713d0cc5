"""Copy method ``conversion_host``: disk bytes flow from a helper server in the source cloud to
one in the destination cloud over SSH, sparse and verified (:class:`ConversionHostCopier`).

For each disk::

    source volume (or a temporary volume made from a snapshot of it, or from the server
    snapshot of an image-booted root disk) --Nova attach--> source host /dev/disk/by-id/virtio-<id20>
    destination volume (created per VolumeSpec) --Nova attach--> destination host, same naming

    destination host:  nbdkit file plugin on the device, listening on a Unix socket in
                       /run/os-migrate/<source id>.dst/ (never on a network address)
    source host:       ssh -L <its socket>:<that socket> to the destination host, with a key made
                       for this disk alone, authorized on the destination host for forwarding
                       only and removed afterwards; its host key checked against the one recorded
                       for the destination host;
                       nbdcopy <device> nbd+unix:///?socket=... (several connections, requests in
                       flight; blocks of zeros become NBD write-zeroes requests, so only non-zero
                       data crosses the wire); ``qemu-img convert`` where nbdcopy is missing.

The copy pushes from the source host because that is where the bytes are read: an NBD export of a
block device carries no allocation map, so a pulling reader would move every zero over the wire.
The source device is only ever read (nbdcopy reads it; nothing exports it writable).

Verification: sha256 of every byte of the source device (computed on the source host, while the
copy runs) must equal the sha256 of the same number of bytes of the destination device (computed
on the destination host after the copy); a larger destination volume must read as zeros past the
source's size. The sha256 becomes the volume's ``os_migrate_sha256``.

Idempotency and cleanup: everything made on a host for a disk carries the source id (work dirs
``/run/os-migrate/<id>.src|.dst``, the key comment ``os-migrate-<id>``, the processes' command
lines), so :meth:`ConversionHostCopier.release` finds and removes it after a killed run, and
detaches the disk's volumes from both hosts; a re-run then starts the disk again.

Hosts are given in ``copy_settings`` (see :class:`HostAccess`): ``src_host`` and ``dst_host``,
each ``{"server": <Nova name or id>, ...how to reach it}``. Private keys never enter settings:
a ``private_key_file`` path (0600, outside the data dir), an ``ssh_conn_id`` resolved by the
caller (the Airflow provider reads an SSH Connection), or a ``host_file`` written by
:mod:`os_migrate.workload.managed_hosts`.

Other settings: ``tool`` (``auto`` | ``nbdcopy`` | ``qemu-img``), ``connections`` (nbdcopy
connections, default 4), ``requests`` (requests in flight per connection, default 64),
``cipher`` (ssh cipher for the tunnel, default ``aes128-gcm@openssh.com``), ``access_order`` (ways
to read an in-use volume, see :attr:`ConversionHostCopier.ACCESS_ORDER`), ``timeout`` (seconds
a copy may take, default from the size), ``progress_interval`` (seconds between progress lines).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import shlex
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openstack import exceptions as sdk_exc

from os_migrate.cloud import find_or_none
from os_migrate.transfer import guest_properties
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import GIB
from os_migrate.workload.disk_copy import (
    COPIERS,
    CopyContext,
    CopyResult,
    DiskCopier,
    DiskSource,
    VolumeSpec,
    reattach_volume,
)
from os_migrate.workload.errors import CopyError, SourceDiskUnreadable

LOG = logging.getLogger(__name__)

#: Where work dirs live on a host (one per disk and role).
RUN_DIR = "/run/os-migrate"
#: Comment of the temporary authorized key, ``os-migrate-<source id>``.
KEY_COMMENT = "os-migrate-{}"
#: What the temporary key may do on the destination host: forward, nothing else.
KEY_OPTIONS = 'no-pty,no-agent-forwarding,no-X11-forwarding,no-user-rc,command="/bin/false"'
DEFAULT_CIPHER = "aes128-gcm@openssh.com"
#: Seconds between polls of attach/detach and of a device appearing (each takes about a second).
POLL = 0.5
TOOLS_SRC = ("sha256sum", "ssh", "blockdev")
TOOLS_DST = ("nbdkit", "sha256sum", "blockdev")
#: sha256 of stdin or a file: OpenSSL (SHA CPU instructions, ~4x coreutils' speed here) when the
#: host has it, else coreutils. Both print the hex digest first.
SHA256 = "$(command -v openssl >/dev/null && echo 'openssl dgst -sha256 -r' || echo sha256sum)"
#: How a tool is proven to run (default ``<tool> --version``).
TOOL_PROBES = {"ssh": "ssh -V"}


class HostError(CopyError):
    """A conversion host cannot be used (unreachable, key refused, host key changed, tool missing)."""


def device_path(volume_id: str) -> str:
    """The device of an attached volume inside the host, by its serial (virtio truncates to 20)."""
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


# -- how to reach a host ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HostAccess:
    """How to reach one conversion host.

    :param server: the host's Nova server (name or id) in its cloud; volumes are attached to it.
    :param address: address the migrator connects to.
    :param host_key: the host's public key, ``<type> <base64>`` (as recorded at deployment, or
        shown by its console log); connections presenting another key are refused.
    :param private_key: the login key (OpenSSH or PEM text). Never shown by ``repr``.
    :param username: login user (needs root rights: attach, nbdkit on a device).
    :param port: SSH port.
    :param peer_address: address the *other* host uses to reach this one (default ``address``).
    :param name: label for messages (default ``server``).
    """

    server: str
    address: str
    host_key: str
    private_key: str = field(repr=False)
    username: str = "root"
    port: int = 22
    peer_address: str | None = None
    name: str = ""

    @property
    def label(self) -> str:
        """``<name> (<address>)`` for messages."""
        return f"{self.name or self.server} ({self.address})"

    @classmethod
    def from_settings(
        cls, value: Any, *, side: str, resolver: Callable[[str], HostAccess] | None = None
    ) -> HostAccess:
        """Build from ``copy_settings.<side>_host``: a HostAccess, or a dict with ``server`` and one of
        ``ssh_conn_id`` (needs ``resolver``), ``host_file`` (JSON written at deployment), or
        ``address`` + ``host_key`` + ``private_key_file`` (+ ``username``, ``port``, ``peer_address``).

        :raises HostError: missing or unreadable settings (the message names ``<side>_host``).
        """
        where = f"copy_settings.{side}_host"
        if isinstance(value, HostAccess):
            return value
        if not isinstance(value, Mapping):
            raise HostError(f"{where}: required for copy method 'conversion_host' (a mapping)")
        value = dict(value)
        if value.get("host_file"):
            path = Path(value.pop("host_file"))
            try:
                recorded = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise HostError(f"{where}.host_file: cannot read {path}: {e}") from e
            value = {**recorded, **value}
        if value.get("ssh_conn_id"):
            if resolver is None:
                raise HostError(
                    f"{where}.ssh_conn_id: {value['ssh_conn_id']!r} can only be resolved inside "
                    "Airflow; outside it give address, host_key and private_key_file"
                )
            access = resolver(str(value["ssh_conn_id"]))
            overrides = {k: value[k] for k in ("server", "peer_address", "name") if value.get(k)}
            return replace(access, **overrides)
        missing = [k for k in ("server", "address", "host_key", "private_key_file") if not value.get(k)]
        if missing:
            raise HostError(f"{where}: missing {', '.join(missing)}")
        return cls(
            server=str(value["server"]),
            address=str(value["address"]),
            host_key=str(value["host_key"]),
            private_key=read_private_key_file(value["private_key_file"], where=where),
            username=str(value.get("username") or "root"),
            port=int(value.get("port") or 22),
            peer_address=value.get("peer_address"),
            name=str(value.get("name") or ""),
        )


def read_private_key_file(path: str | os.PathLike, *, where: str = "private_key_file") -> str:
    """Read a private key file that only its owner may read.

    :raises HostError: missing, unreadable, or readable by group/others.
    """
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise HostError(f"{where}: {p} is readable by others (mode {oct(mode & 0o777)}); chmod 600 it")
        return p.read_text()
    except OSError as e:
        raise HostError(f"{where}: cannot read {p}: {e.strerror or e}") from e


def new_keypair(comment: str = "") -> tuple[str, str]:
    """A fresh ed25519 key: ``(private OpenSSH text, public "ssh-ed25519 <b64> comment")``."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, f"{public} {comment}".strip()


def load_private_key(text: str) -> paramiko.PKey:
    """Parse a private key of any type paramiko knows.

    :raises HostError: not a private key (the key text is never put in the message).
    """
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise HostError("the private key is not an OpenSSH/PEM ed25519, ecdsa or rsa key without passphrase")


# -- one SSH session -------------------------------------------------------------------------------


class HostSession:
    """An SSH session to one host (paramiko), host key checked.

    :raises HostError: connection refused or timed out, key refused, host key differs.
    """

    def __init__(self, access: HostAccess, *, label: str | None = None, timeout: float = 20.0):
        self.access = access
        self.label = label or f"conversion host {access.label}"
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            keytype, blob = access.host_key.split()[:2]
            known = paramiko.PKey.from_type_string(keytype, base64.b64decode(blob))
        except (ValueError, paramiko.SSHException) as e:
            raise HostError(f"{access.label}: host_key is not '<type> <base64>' ({e})") from e
        host = access.address if access.port == 22 else f"[{access.address}]:{access.port}"
        client.get_host_keys().add(host, keytype, known)
        try:
            client.connect(
                access.address,
                port=access.port,
                username=access.username,
                pkey=load_private_key(access.private_key),
                look_for_keys=False,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
            )
        except paramiko.BadHostKeyException as e:
            raise HostError(
                f"{self.label}: its host key changed (it presents "
                f"{e.key.get_name()} {e.key.get_base64()[:16]}..., recorded "
                f"{keytype} {blob[:16]}...); refusing to connect"
            ) from e
        except paramiko.AuthenticationException as e:
            raise HostError(f"{self.label}: it refuses the key for {access.username!r} ({e})") from e
        except (OSError, paramiko.SSHException) as e:
            raise HostError(f"{self.label}: cannot connect over SSH: {e}") from e
        self.client = client

    def run(self, command: str, *, stdin: str | None = None, timeout: float = 120.0) -> tuple[int, str, str]:
        """Run ``command``; returns ``(exit status, stdout, stderr)``."""
        chan = self._transport().open_session(timeout=timeout)
        chan.settimeout(timeout)
        chan.exec_command(command)
        if stdin is not None:
            chan.sendall(stdin.encode())
        chan.shutdown_write()
        out, err = _drain(chan)
        return chan.recv_exit_status(), out, err

    def check(self, command: str, *, what: str, stdin: str | None = None, timeout: float = 120.0) -> str:
        """Run ``command``; its stdout.

        :raises CopyError: non-zero exit (message: host, ``what``, stderr).
        """
        rc, out, err = self.run(command, stdin=stdin, timeout=timeout)
        if rc != 0:
            raise CopyError(f"{self.label}: {what} failed (exit {rc}): {err.strip()[-500:]}")
        return out

    def start(self, command: str) -> paramiko.Channel:
        """Start ``command`` and return its channel (read it with :func:`_drain` or by line)."""
        chan = self._transport().open_session()
        chan.exec_command(command)
        chan.shutdown_write()
        return chan

    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise HostError(f"{self.label}: the SSH connection was lost")
        return transport

    def close(self) -> None:
        self.client.close()


def _drain(chan: paramiko.Channel) -> tuple[str, str]:
    out, err = bytearray(), bytearray()
    while True:
        got = False
        if chan.recv_ready():
            out += chan.recv(65536)
            got = True
        if chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            got = True
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        if not got:
            time.sleep(0.02)
    return out.decode(errors="replace"), err.decode(errors="replace")


# -- a host: its Nova server and its shell ---------------------------------------------------------


class ConversionHost:
    """One conversion host: its server in ``conn``'s cloud and an SSH session to it.

    :param conn: openstacksdk connection of the host's cloud (volumes are attached through Nova).
    :param access: how to reach it.
    :param role: ``source`` or ``destination`` (for messages and work dirs).
    """

    def __init__(self, conn, access: HostAccess, role: str):
        self.conn = conn
        self.access = access
        self.role = role
        self._session: HostSession | None = None
        self._server_id: str | None = None

    @property
    def label(self) -> str:
        """``<role> host <name> (<address>)``."""
        return f"{self.role} host {self.access.label}"

    @property
    def session(self) -> HostSession:
        """The SSH session (opened on first use)."""
        if self._session is None:
            self._session = HostSession(self.access, label=self.label)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def server_id(self) -> str:
        """Id of the host's server.

        :raises HostError: no such server, or not ACTIVE.
        """
        if self._server_id is None:
            server = cloudops.call(find_or_none, self.conn.compute.find_server, self.access.server)
            if server is None:
                raise HostError(f"{self.label}: server {self.access.server!r} not found in its cloud")
            server = cloudops.get_server(self.conn, server.id) or server
            if server.status != "ACTIVE":
                raise HostError(f"{self.label}: server {self.access.server!r} is {server.status}, not ACTIVE")
            self._server_id = server.id
        return self._server_id

    def workdir(self, source_id: str) -> str:
        """``/run/os-migrate/<source id>.src|.dst``: everything made on the host for one disk."""
        return f"{RUN_DIR}/{source_id}.{'src' if self.role == 'source' else 'dst'}"

    def problems(self, tools: tuple[str, ...], *, any_of: tuple[str, ...] = ()) -> list[str]:
        """Pre-flight: server ACTIVE, SSH with the recorded host key and the key, tools present.

        :returns: one message per problem, each naming the host.
        """
        try:
            self.server_id()
            missing = self.missing_tools(tools, any_of=any_of)
        except HostError as e:
            return [str(e)]
        except CopyError as e:
            return [str(e)]
        if missing:
            return [f"{self.label}: missing tool(s): {', '.join(missing)}"]
        return []

    def missing_tools(self, tools: tuple[str, ...], *, any_of: tuple[str, ...] = ()) -> list[str]:
        """Tools of ``tools`` that do not run on the host (``<tool> --version`` fails), plus
        ``a or b`` when none of ``any_of`` runs."""
        names = list(tools) + list(any_of)
        script = "; ".join(
            f"{TOOL_PROBES.get(t, shlex.quote(t) + ' --version')} >/dev/null 2>&1 || echo {shlex.quote(t)}"
            for t in names
        )
        absent = set(self.session.check(script, what="looking for tools").split())
        missing = [t for t in tools if t in absent]
        if any_of and all(t in absent for t in any_of):
            missing.append(" or ".join(any_of))
        return missing

    # volumes ------------------------------------------------------------------------------------
    def attach(self, volume_id: str, size_gib: int) -> str:
        """Attach a volume through Nova and wait for its device; returns the device path.

        :raises CopyError: the attach failed or the device did not appear.
        """
        timeout = cloudops.volume_timeout(size_gib)
        volume = cloudops.get_volume(self.conn, volume_id)
        attached = volume is not None and any(
            a.get("server_id") == self.server_id() for a in volume.attachments or []
        )
        if not attached:
            LOG.info("attaching volume %s to %s", volume_id, self.label)
            self.conn.compute.create_volume_attachment(self.server_id(), volume_id=volume_id)
            cloudops.wait_volume(
                self.conn, volume_id, "in-use", what=f"volume {volume_id} on the {self.label}",
                timeout=timeout, error=CopyError, interval=POLL,
            )  # fmt: skip
        path = device_path(volume_id)
        deadline = time.monotonic() + 120
        while True:
            rc, _, _ = self.session.run(f"test -b {path}")
            if rc == 0:
                return path
            if time.monotonic() > deadline:
                raise CopyError(f"{self.label}: volume {volume_id} attached but {path} did not appear")
            time.sleep(POLL)

    def detach(self, volume_id: str, *, timeout: float = 300.0) -> bool:
        """Detach a volume from this host if attached (idempotent); True if a detach was made."""
        volume = cloudops.get_volume(self.conn, volume_id)
        if volume is None or not any(
            a.get("server_id") == self.server_id() for a in volume.attachments or []
        ):
            return False
        LOG.info("detaching volume %s from %s", volume_id, self.label)
        cloudops.call(self.conn.compute.delete_volume_attachment, self.server_id(), volume_id)
        cloudops.wait_until(
            lambda: cloudops.get_volume(self.conn, volume_id),
            lambda v: (
                v is None or not any(a.get("server_id") == self._server_id for a in v.attachments or [])
            ),
            what=f"detach of volume {volume_id} from the {self.label}",
            timeout=timeout,
            error=CopyError,
            interval=POLL,
        )
        return True

    def attached_volumes(self) -> list[str]:
        """Ids of the volumes Nova has attached to this host."""
        return [a.volume_id for a in cloudops.listing(self.conn.compute.volume_attachments, self.server_id())]

    def release(self, source_id: str) -> list[str]:
        """Stop every process of the disk's work dir, drop the dir and the disk's temporary key.

        :returns: what was found and removed.
        """
        wd = self.workdir(source_id)
        comment = KEY_COMMENT.format(source_id)
        pattern = shlex.quote(wd)
        script = f"""
found=""
pids=$(cat {shlex.quote(wd)}/*.pid 2>/dev/null; pgrep -f -- {pattern})
if [ -n "$pids" ]; then found="processes"; kill $pids 2>/dev/null; fi
for i in 1 2 3 4 5 6 7 8 9 10; do
  alive=""; for p in $pids; do kill -0 $p 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break; sleep 0.3
done
[ -n "$pids" ] && kill -9 $pids 2>/dev/null
if [ -e {shlex.quote(wd)} ]; then found="$found workdir"; rm -rf {shlex.quote(wd)}; fi
keys="$HOME/.ssh/authorized_keys"
if [ -f "$keys" ] && grep -q -- {shlex.quote(comment)} "$keys"; then
  found="$found key"; grep -v -- {shlex.quote(comment)} "$keys" > "$keys.osm.$$"; cat "$keys.osm.$$" > "$keys"
  rm -f "$keys.osm.$$"
fi
echo $found
"""
        # the script goes on stdin: its text names the work dir, and must not match its own pgrep
        out = self.session.check("sh -s", stdin=script, what="cleaning up the work of a copy").split()
        return [f"{self.label}: {thing} of {source_id}" for thing in out]


# -- the copier ------------------------------------------------------------------------------------


class ConversionHostCopier(DiskCopier):
    """Copy disks host to host over SSH (see the module docstring for the path and settings)."""

    method = "conversion_host"
    #: Ways to read an in-use source volume, in order: a temporary volume from a snapshot; the data
    #: volume of a stopped server detached (and attached back after); a force-upload to an image
    #: turned into a temporary volume (what a boot volume needs where Cinder cannot snapshot it).
    ACCESS_ORDER = ("snapshot", "detach", "force_upload")

    def __init__(self, context: CopyContext):
        super().__init__(context)
        s = context.settings
        self.tool = str(s.get("tool") or "auto")
        if self.tool not in ("auto", "nbdcopy", "qemu-img"):
            raise CopyError(f"copy_settings.tool: {self.tool!r} is not auto, nbdcopy or qemu-img")
        self.connections = int(s.get("connections") or 4)
        self.requests = int(s.get("requests") or 64)
        self.cipher = str(s.get("cipher") or DEFAULT_CIPHER)
        self.timeout = float(s["timeout"]) if s.get("timeout") else None
        self.progress_interval = float(s.get("progress_interval") or 10)
        self.access_order = tuple(s.get("access_order") or self.ACCESS_ORDER)
        self._settings = s
        self._hosts: dict[str, ConversionHost] = {}

    def host(self, side: str) -> ConversionHost:
        """The ``src`` or ``dst`` conversion host (built on first use).

        :raises HostError: its settings are missing or wrong.
        """
        if side not in self._hosts:
            access = HostAccess.from_settings(
                self._settings.get(f"{side}_host"), side=side, resolver=self.context.ssh_resolver
            )
            conn = self.src if side == "src" else self.dst
            self._hosts[side] = ConversionHost(conn, access, "source" if side == "src" else "destination")
        return self._hosts[side]

    def close(self) -> None:
        """Close the SSH sessions."""
        for h in self._hosts.values():
            h.close()

    # -- pre-flight ------------------------------------------------------------------------------
    def check(self) -> list[str]:
        problems = []
        tools: tuple[str, ...]
        any_of: tuple[str, ...]
        for side, tools, any_of in (("src", TOOLS_SRC, ("nbdcopy", "qemu-img")), ("dst", TOOLS_DST, ())):
            try:
                host = self.host(side)
            except HostError as e:
                problems.append(f"copy method 'conversion_host': {e}")
                continue
            if side == "src" and self.tool != "auto":
                tools, any_of = (*tools, self.tool), ()
            problems.extend(host.problems(tools, any_of=any_of))
        return problems

    # -- copy ------------------------------------------------------------------------------------
    def copy(self, source: DiskSource, spec: VolumeSpec) -> CopyResult:
        src_host, dst_host = self.host("src"), self.host("dst")
        LOG.info(
            "copy %s -> volume %r (method conversion_host: %s -> %s)",
            source.label or source.id, spec.name, src_host.label, dst_host.label,
        )  # fmt: skip
        volume, access, detached_from = self._readable_volume(source)
        try:
            size = max(int(spec.size or 0), int(volume.size or 1))
            dst_volume = self._create_volume(spec, size)
            src_dev = src_host.attach(volume.id, volume.size)
            dst_dev = dst_host.attach(dst_volume.id, size)
            stats = self._transfer(source, src_dev, dst_dev)
            dst_host.detach(dst_volume.id)
            src_host.detach(volume.id)
        except Exception:
            if detached_from is not None:  # free it for the re-attach below; the rest is release()'s
                try:
                    src_host.release(source.id)
                    src_host.detach(volume.id)
                except Exception as e:
                    LOG.warning(
                        "%s: could not free the source volume on the source host: %s", source.label, e
                    )
            raise
        finally:
            if detached_from is not None:
                reattach_volume(self.src, volume.id, detached_from, source.device)
                self.journal.record_reattach(volume.id)
        if bool(dst_volume.is_bootable) != bool(spec.is_bootable):
            self.dst.block_storage.set_volume_bootable_status(dst_volume, bool(spec.is_bootable))
        properties = {}
        if source.kind == "server_disk":
            image = next(iter(cloudops.own_images_named(self.src, source.tmp_name)), None)
            properties = guest_properties(image) if image is not None else {}
        return CopyResult(
            volume_id=dst_volume.id,
            size=size,
            bytes=stats["wire_bytes"],
            sha256=stats["sha256"],
            seconds=stats["seconds"],
            mb_per_s=stats["mb_per_s"],
            method=self.method,
            access=access,
            image_properties=properties,
            verify_seconds=stats["verify_seconds"],
        )

    def _readable_volume(self, source: DiskSource) -> tuple[Any, str, str | None]:
        """A source-cloud volume holding the disk's bytes that may be attached to the source host.

        :returns: ``(volume, access, server id it was detached from or None)``.
        """
        if source.kind == "server_disk":
            image = next(
                (i for i in cloudops.own_images_named(self.src, source.tmp_name) if i.status == "active"),
                None,
            )
            if image is None:
                image = self._server_snapshot(source)
            return self._volume_from_image(image, source), "server_snapshot", None
        volume = cloudops.get_volume(self.src, source.id)
        if volume is None:
            raise CopyError(f"source volume {source.id} ({source.label}) not found")
        volume = cloudops.wait_volume_settled(
            self.src, volume.id, what="source volume", timeout=cloudops.volume_timeout(volume.size)
        )
        if volume.status == "available":
            if source.server_id:  # exported as attached: an interrupted earlier run detached it
                self.journal.record_detach(volume.id, source.server_id, source.device)
                return volume, "detach", source.server_id
            return volume, "attach", None
        if volume.status != "in-use":
            raise CopyError(f"source volume {volume.id} ({source.label}) is {volume.status!r}")
        tried = []
        for way in self.access_order:
            if way in self._unsupported:
                tried.append(f"{way}: refused earlier in this run")
            elif way == "snapshot":
                temp = self._volume_from_snapshot(volume, source)
                if temp is not None:
                    return temp, "snapshot", None
                tried.append("snapshot: the source Cinder cannot snapshot this volume")
            elif way == "detach":
                reason = self._detach_refusal(source)
                if reason:
                    tried.append(f"detach: {reason}")
                    continue
                assert source.server_id is not None
                self.journal.record_detach(volume.id, source.server_id, source.device)
                LOG.info("detaching %s (%s) from the stopped source server", source.label, volume.id)
                self.src.compute.delete_volume_attachment(source.server_id, volume.id)
                volume = cloudops.wait_volume(
                    self.src, volume.id, "available", what="detached source volume",
                    timeout=cloudops.volume_timeout(volume.size), error=CopyError,
                )  # fmt: skip
                return volume, "detach", source.server_id
            elif way == "force_upload":
                try:
                    image = self._upload(volume, source, force=True)
                except sdk_exc.BadRequestException as e:
                    self._unsupported.add("force_upload")
                    tried.append(f"force_upload: {e} (Cinder enable_force_upload is off)")
                    continue
                return self._volume_from_image(image, source), "force_upload", None
        raise SourceDiskUnreadable(
            f"cannot read the {'boot' if source.is_root else 'attached'} volume {volume.id} "
            f"({source.label}) through the source APIs: " + "; ".join(tried)
        )

    def _volume_from_image(self, image, source: DiskSource):
        name = source.tmp_name
        size = max(1, -(-int(image.size or 0) // GIB), int(image.min_disk or 0))
        for vol in cloudops.volumes_named(self.src, name):
            if vol.status == "available":
                return vol
            cloudops.delete_volume(self.src, vol, what="unfinished temporary volume")
        LOG.info("making temporary source volume %s from the snapshot of %s", name, source.label)
        vol = self.src.block_storage.create_volume(
            name=name, size=size, image_id=image.id, description="os-migrate temporary volume"
        )
        return cloudops.wait_volume(
            self.src, vol.id, "available", what="temporary volume", timeout=cloudops.volume_timeout(size),
            error=CopyError,
        )  # fmt: skip

    def _create_volume(self, spec: VolumeSpec, size: int):
        kwargs: dict[str, Any] = dict(
            name=spec.name, size=size, metadata=dict(spec.metadata), description=spec.description
        )
        if spec.volume_type:
            kwargs["volume_type"] = spec.volume_type
        if spec.availability_zone:
            kwargs["availability_zone"] = spec.availability_zone
        LOG.info(
            "creating destination volume %r (%d GiB, type %s)", spec.name, size, spec.volume_type or "default"
        )
        volume = self.dst.block_storage.create_volume(**kwargs)
        return cloudops.wait_volume(
            self.dst, volume.id, "available", what=f"destination volume {spec.name!r}",
            timeout=cloudops.volume_timeout(size), error=CopyError, interval=POLL,
        )  # fmt: skip

    # the bytes ----------------------------------------------------------------------------------
    def _transfer(self, source: DiskSource, src_dev: str, dst_dev: str) -> dict[str, Any]:
        src_host, dst_host = self.host("src"), self.host("dst")
        sid = source.id
        swd, dwd = src_host.workdir(sid), dst_host.workdir(sid)
        q = shlex.quote
        src_bytes = int(src_host.session.check(f"blockdev --getsize64 {src_dev}", what="reading the size"))
        dst_bytes = int(dst_host.session.check(f"blockdev --getsize64 {dst_dev}", what="reading the size"))
        if dst_bytes < src_bytes:
            raise CopyError(f"{source.label}: destination device holds {dst_bytes} bytes < {src_bytes}")
        tool = self.tool
        if tool == "auto":
            tool = "qemu-img" if src_host.missing_tools(("nbdcopy",)) else "nbdcopy"
        # destination: an NBD server on the device, on a Unix socket in the work dir
        dst_host.session.check(
            f"umask 077 && mkdir -p {q(dwd)} && nbdkit --unix {q(dwd)}/nbd.sock --pidfile {q(dwd)}/nbdkit.pid "
            f"file {q(dst_dev)} cache=none",
            what="starting nbdkit",
        )
        # a key for this disk alone, allowed to forward on the destination host
        private, public = new_keypair(KEY_COMMENT.format(sid))
        dst_host.session.check(
            'umask 077 && mkdir -p "$HOME/.ssh" && cat >> "$HOME/.ssh/authorized_keys"',
            stdin=f"{KEY_OPTIONS} {public}\n",
            what="authorizing the transfer key",
        )
        peer = dst_host.access.peer_address or dst_host.access.address
        known = f"[{peer}]:{dst_host.access.port} " if dst_host.access.port != 22 else f"{peer} "
        src_host.session.check(
            f"umask 077 && mkdir -p {q(swd)} && cat > {q(swd)}/id",
            stdin=private,
            what="staging the transfer key",
        )
        src_host.session.check(
            f"cat > {q(swd)}/known_hosts", stdin=known + dst_host.access.host_key + "\n", what="known_hosts"
        )
        tunnel = (
            f"ssh -f -N -o BatchMode=yes -o ExitOnForwardFailure=yes -o StrictHostKeyChecking=yes "
            f"-o UserKnownHostsFile={q(swd)}/known_hosts -o IdentitiesOnly=yes -o IdentityFile={q(swd)}/id "
            f"-o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o StreamLocalBindUnlink=yes "
            f"-c {q(self.cipher)} -p {dst_host.access.port} "
            f"-L {q(swd)}/nbd.sock:{q(dwd)}/nbd.sock {q(dst_host.access.username)}@{q(peer)} "
            f"</dev/null >{q(swd)}/ssh.log 2>&1 || {{ cat {q(swd)}/ssh.log >&2; exit 1; }}"
        )
        src_host.session.check(tunnel, what=f"opening the SSH tunnel to the {dst_host.label}", timeout=60)
        # hash the source while the copy runs (both only read it)
        src_hash = src_host.session.start(f"echo $$ > {q(swd)}/hash.pid && exec {SHA256} {q(src_dev)}")
        uri = f"nbd+unix:///?socket={swd}/nbd.sock"
        if tool == "nbdcopy":
            command = (
                f"echo $$ > {q(swd)}/copy.pid && exec nbdcopy --progress=3 --connections={self.connections} --requests={self.requests} "
                f"{q(src_dev)} {q(uri)} 3>&2"
            )
        else:
            command = f"echo $$ > {q(swd)}/copy.pid && exec qemu-img convert -p -n -W -m 8 -f raw -O raw {q(src_dev)} {q(uri)}"
        LOG.info("copying %s: %d bytes, %s on the %s", source.label, src_bytes, tool, src_host.label)
        started = time.monotonic()
        self._run_with_progress(src_host, command, source, src_bytes, started)
        seconds = time.monotonic() - started
        verify_started = time.monotonic()  # from here: waiting for the source hash, hashing the copy
        wire = self._tunnel_bytes(src_host, swd)
        src_sha = _hash_result(src_hash, src_host, "hashing the source device")
        src_host.release(sid)
        dst_host.release(sid)
        if dst_bytes == src_bytes:
            dst_sha = dst_host.session.check(
                f"{SHA256} {q(dst_dev)}", what="hashing the destination", timeout=self._timeout(src_bytes)
            ).split()[0]
        else:
            dst_sha = dst_host.session.check(
                f"head -c {src_bytes} {q(dst_dev)} | {SHA256} && "
                f"tail -c +{src_bytes + 1} {q(dst_dev)} | cmp -s -n {dst_bytes - src_bytes} - /dev/zero",
                what="hashing the destination (and checking it is zero past the source size)",
                timeout=self._timeout(dst_bytes),
            ).split()[0]
        verify_seconds = time.monotonic() - verify_started
        if src_sha != dst_sha:
            raise CopyError(
                f"{source.label}: verification failed: source sha256 {src_sha} != destination {dst_sha}"
            )
        mbps = src_bytes / seconds / 1e6 if seconds else 0.0
        LOG.info(
            "copy %s verified: %d bytes in %.1f s (%.0f MB/s of disk), %d bytes over the tunnel, "
            "sha256 %s (verification %.1f s)",
            source.label, src_bytes, seconds, mbps, wire, src_sha, verify_seconds,
        )  # fmt: skip
        return {
            "sha256": src_sha,
            "seconds": round(seconds, 3),
            "mb_per_s": round(mbps, 1),
            "wire_bytes": wire,
            "logical_bytes": src_bytes,
            "verify_seconds": round(verify_seconds, 3),
            "tool": tool,
        }

    def _timeout(self, nbytes: int) -> float:
        # generous: 20 MB/s floor plus 10 minutes
        return self.timeout or 600 + nbytes / 20e6

    def _run_with_progress(
        self, host: ConversionHost, command: str, source: DiskSource, total: int, started: float
    ) -> None:
        chan = host.session.start(command)
        deadline = started + self._timeout(total)
        err = bytearray()
        last_log = 0.0
        pct = 0.0
        while not chan.exit_status_ready() or chan.recv_stderr_ready() or chan.recv_ready():
            got = False
            if chan.recv_ready():  # qemu-img -p writes "(12.34/100%)" to stdout
                err += chan.recv(65536)
                got = True
            if chan.recv_stderr_ready():  # nbdcopy --progress=3 writes "12/100" lines (fd 3 -> 2)
                err += chan.recv_stderr(65536)
                got = True
            if got:
                for m in re.finditer(rb"(\d+(?:\.\d+)?)(?:/100|%)", bytes(err[-200:])):
                    pct = float(m.group(1))
                del err[:-4096]
            else:
                time.sleep(0.1)
            now = time.monotonic()
            if now - last_log >= self.progress_interval and pct:
                last_log = now
                done = total * pct / 100
                rate = done / (now - started) if now > started else 0
                eta = (total - done) / rate if rate else 0
                LOG.info(
                    "copy %s: %.0f%%, %.0f of %.0f MB, %.0f MB/s, ETA %.0f s",
                    source.label, pct, done / 1e6, total / 1e6, rate / 1e6, eta,
                )  # fmt: skip
            if now > deadline:
                chan.close()
                raise CopyError(f"{source.label}: copy still running after {self._timeout(total):.0f} s")
        rc = chan.recv_exit_status()
        if rc != 0:
            text = err.decode(errors="replace").strip()[-800:]
            raise CopyError(f"{host.label}: copy of {source.label} failed (exit {rc}): {text}")

    @staticmethod
    def _tunnel_bytes(host: ConversionHost, swd: str) -> int:
        """Bytes the tunnel's ssh process wrote (encrypted NBD traffic): the data moved."""
        out = host.session.run(
            f"for p in $(pgrep -f -- {shlex.quote(swd)}/id); do awk '/^wchar/ {{print $2}}' /proc/$p/io; done"
        )[1]
        return sum(int(x) for x in out.split() if x.isdigit())

    # -- release and cleanup ---------------------------------------------------------------------
    def release(self, source: DiskSource) -> list[str]:
        done: list[str] = []
        src_host, dst_host = self.host("src"), self.host("dst")
        done += src_host.release(source.id)
        done += dst_host.release(source.id)
        marked = {v.id for v in cloudops.volumes_with_marker(self.dst, source.id)}
        for vid in dst_host.attached_volumes():
            if vid in marked and dst_host.detach(vid):
                done.append(f"{dst_host.label}: detached destination volume {vid}")
        ours = {source.id} | {v.id for v in cloudops.volumes_named(self.src, source.tmp_name)}
        for vid in src_host.attached_volumes():
            if vid in ours and src_host.detach(vid):
                done.append(f"{src_host.label}: detached source volume {vid}")
        return done

    def cleanup(self, source: DiskSource) -> list[str]:
        try:
            done = self.release(source)
        except HostError as e:  # the hosts may be gone already (teardown ran); the clouds still count
            LOG.warning("cleanup of %s on the conversion hosts skipped: %s", source.label, e)
            done = []
        return done + self._cleanup_source(source)


def _hash_result(chan: paramiko.Channel, host: ConversionHost, what: str) -> str:
    out, err = _drain(chan)
    rc = chan.recv_exit_status()
    if rc != 0:
        raise CopyError(f"{host.label}: {what} failed (exit {rc}): {err.strip()[-300:]}")
    return out.split()[0]


def write_host_file(path: str | os.PathLike, access: HostAccess, *, private_key_file: str) -> None:
    """Record a host for ``copy_settings.<side>_host.host_file`` (JSON, no secret; the key stays in
    ``private_key_file``). Written atomically, mode 0600."""
    data = {
        "server": access.server,
        "address": access.address,
        "port": access.port,
        "username": access.username,
        "host_key": access.host_key,
        "private_key_file": str(private_key_file),
        "peer_address": access.peer_address,
        "name": access.name,
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, p)


COPIERS[ConversionHostCopier.method] = ConversionHostCopier

__all__ = [
    "ConversionHost",
    "ConversionHostCopier",
    "HostAccess",
    "HostError",
    "HostSession",
    "device_path",
    "new_keypair",
    "read_private_key_file",
    "write_host_file",
]
