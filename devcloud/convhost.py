"""devcloud conversion hosts: a network namespace with a real sshd per server.

A server booted on the devcloud from an image with the property
``os_migrate_conversion_host=true`` becomes a small real host, built by this
module (stdlib only; the Nova driver ``devcloud_fake.py`` imports it as
``nova.virt.devcloud_convhost``, and ``devcloud.sh`` runs it as a script):

* network namespace ``dcch-<instance uuid>`` with ``lo`` and one interface
  ``eth<N>`` per Neutron port (the port's MAC and IPv4 fixed IPs, no default
  route; on a devclouds' external network also an on-link route for
  PEER_SUPERNET, see below).  Its veth peer ``dcv<10 hex of uuid><N>`` sits in the root namespace
  on a Linux bridge ``dcbr<10 hex of network id>``, one per Neutron network
  (layer 2 only: no forwarding, no NAT).  The bridge gets the subnet's gateway
  address when no other route in the root namespace covers that subnet, so
  the migrator (root namespace) reaches the hosts of a network such as the
  shared ``public`` one at their fixed IPs, and hosts on one network reach
  each other (the src and the dst host, when both have a port on ``public``).
* ``sshd`` (Debian's openssh-server) in that namespace and in a private mount
  namespace (``ip netns exec`` + ``unshare --mount``): its own config, an
  ed25519 host key generated per host, ``ListenAddress`` = the host's fixed
  IPs, no PAM, login ``root`` with the server's keypair only.
* ``/run`` inside the host is its own tmpfs, and root's ``~/.ssh`` its own directory (bind-mounted in the
  host's mount namespace), holding ``authorized_keys`` as on a real server, so
  a tool may add and remove keys there without touching any other host.
* each attached Cinder volume is a loop device over the volume file, linked as
  ``/dev/disk/by-id/virtio-<first 20 chars of the volume id>`` inside the
  host: a per-host directory is bind-mounted on ``/dev/disk/by-id`` in the
  host's mount namespace.

State and files per host: ``<base>/<uuid>/`` (``host.json``,
``ssh_host_ed25519_key[.pub]``, ``known_hosts``, ``sshd_config``,
``root-ssh/authorized_keys``, ``by-id/``, ``sshd.pid``, ``sshd.log``), with
``<base>`` = ``$DEVCLOUD_HOME/data/convhost``.  ``teardown`` removes the
runtime part (processes, namespace, veths, loop devices, bridge when unused)
and keeps the state so ``ensure`` can rebuild the host (nova-compute restart,
``devcloud.sh stop``/``start``, power off/on); ``delete`` removes both.

CLI (root): ``python3 convhost.py --base DIR
{create,ensure,ensure-all,attach,detach,teardown,teardown-all,delete,status}``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time

SSHD = "/usr/sbin/sshd"
BY_ID = "/dev/disk/by-id"
ROOT_SSH = "/root/.ssh"
NS_PREFIX = "dcch-"
# Every state dir (``--base``) that has built a host since boot, one per line: with two devclouds
# on the machine (DEVCLOUD_CLOUDS=2), ``teardown-all`` of one leaves the other's hosts alone.
# /run is a tmpfs, emptied at boot, as are the namespaces.
BASES_FILE = "/run/devcloud-convhost-bases"
# The devclouds' external networks (cloud N's ``public`` is 172.24.(3+N).0/24). A host on one of them
# reaches the hosts on the others (a host of cloud 1 those of cloud 2): an on-link route for the
# whole range in the host, proxy ARP and forwarding on the bridges that hold such a gateway, and a
# policy rule that routes what enters from those bridges with table PEER_TABLE only (their subnets
# and ``unreachable default``), so nothing from a host is ever forwarded out of the test bed.
PEER_SUPERNET = ipaddress.ip_network("172.24.0.0/16")
PEER_TABLE = "4242"


class ConvHostError(Exception):
    pass


# ------------------------------------------------------------------ helpers


def _run(*cmd: str, check: bool = True) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ConvHostError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def _ipj(*args: str) -> list:
    out = _run("ip", "-j", *args, check=False).strip()
    return json.loads(out) if out else []


def ns_name(uuid: str) -> str:
    return NS_PREFIX + uuid


def _short(text: str) -> str:
    # interface names are at most 15 characters: 10 hex of a hash of the id
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def veth_name(uuid: str, index: int) -> str:
    return f"dcv{_short(uuid)}{index}"


def bridge_name(network_id: str) -> str:
    return f"dcbr{_short(network_id)}"


def serial_name(volume_id: str) -> str:
    return f"virtio-{volume_id[:20]}"


def _exists_quiet(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def _netns_list() -> list[str]:
    return [n["name"] for n in _ipj("netns", "list")]


@contextlib.contextmanager
def _locked(base: str):
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def host_dir(base: str, uuid: str) -> str:
    return os.path.join(base, uuid)


def load(base: str, uuid: str) -> dict | None:
    try:
        with open(os.path.join(host_dir(base, uuid), "host.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _save(base: str, state: dict) -> None:
    path = os.path.join(host_dir(base, state["uuid"]), "host.json")
    with open(path + ".tmp", "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def is_host(base: str, uuid: str) -> bool:
    return os.path.exists(os.path.join(host_dir(base, uuid), "host.json"))


def host_uuids(base: str) -> list[str]:
    if not os.path.isdir(base):
        return []
    return sorted(u for u in os.listdir(base) if is_host(base, u))


def addresses(state: dict) -> list[str]:
    return [ip["address"] for vif in state["vifs"] for ip in vif["ips"]]


# ------------------------------------------------------------------ create / ensure


def create(base: str, uuid: str, key_data: str, vifs: list[dict], name: str = "") -> dict:
    """Record a new host (keys, config) and bring it up.

    ``vifs``: ``[{"id", "mac", "network_id", "ips": [{"address", "cidr", "gateway"}]}]``
    (IPv4 only).
    """
    if not key_data.strip():
        raise ConvHostError("a conversion host needs a keypair (instance.key_data is empty)")
    vifs = [
        dict(v, ips=[ip for ip in v["ips"] if ipaddress.ip_address(ip["address"]).version == 4]) for v in vifs
    ]
    if not any(v["ips"] for v in vifs):
        raise ConvHostError("a conversion host needs a port with an IPv4 fixed IP")
    with _locked(base):
        d = host_dir(base, uuid)
        os.makedirs(os.path.join(d, "by-id"), exist_ok=True)
        os.makedirs(os.path.join(d, "root-ssh"), mode=0o700, exist_ok=True)
        key = os.path.join(d, "ssh_host_ed25519_key")
        if not os.path.exists(key):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name or uuid}", "-f", key)
        state = load(base, uuid) or {"uuid": uuid, "volumes": {}}
        state.update(name=name, vifs=vifs)
        keys = os.path.join(d, "root-ssh", "authorized_keys")
        with open(keys, "w") as f:
            f.write(key_data.strip() + "\n")
        os.chmod(keys, 0o600)
        _save(base, state)
        _write_sshd_config(base, state)
        _ensure(base, state)
        return state


def host_public_key(base: str, uuid: str) -> str:
    with open(os.path.join(host_dir(base, uuid), "ssh_host_ed25519_key.pub")) as f:
        return " ".join(f.read().split()[:2])


def console_text(base: str, uuid: str) -> str:
    """What the server's console log shows: cloud-init's host key block."""
    state = load(base, uuid) or {"vifs": []}
    key = host_public_key(base, uuid)
    lines = [
        f"devcloud conversion host {uuid}",
        f"addresses: {' '.join(addresses(state))}",
        "-----BEGIN SSH HOST KEY KEYS-----",
        key,
        "-----END SSH HOST KEY KEYS-----",
        "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
        _run(
            "ssh-keygen", "-l", "-f", os.path.join(host_dir(base, uuid), "ssh_host_ed25519_key.pub")
        ).strip(),
        "-----END SSH HOST KEY FINGERPRINTS-----",
    ]
    return "\n".join(lines) + "\n"


def _write_sshd_config(base: str, state: dict) -> None:
    d = host_dir(base, state["uuid"])
    listen = "\n".join(f"ListenAddress {a}:22" for a in addresses(state))
    text = f"""# devcloud conversion host {state["uuid"]} (written by convhost.py)
{listen}
HostKey {d}/ssh_host_ed25519_key
PidFile {d}/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin prohibit-password
AllowUsers root
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
UseDNS no
MaxStartups 100:30:200
Subsystem sftp internal-sftp
LogLevel INFO
"""
    with open(os.path.join(d, "sshd_config"), "w") as f:
        f.write(text)
    key = host_public_key(base, state["uuid"])
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.writelines(f"{a} {key}\n" for a in addresses(state))


def ensure(base: str, uuid: str) -> dict:
    """Bring an existing host up again (idempotent)."""
    with _locked(base):
        state = load(base, uuid)
        if state is None:
            raise ConvHostError(f"{uuid}: not a conversion host")
        _ensure(base, state)
        return state


def _register(base: str) -> None:
    base = os.path.abspath(base)
    if base in known_bases():
        return
    with open(BASES_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(base + "\n")


def known_bases() -> list[str]:
    """State dirs that built hosts since boot and still exist."""
    try:
        with open(BASES_FILE) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return []
    return sorted({line for line in lines if line and os.path.isdir(line)})


def _ensure(base: str, state: dict) -> None:
    _register(base)
    uuid = state["uuid"]
    ns = ns_name(uuid)
    if ns not in _netns_list():
        _run("ip", "netns", "add", ns)
        # IPv4 only: no link-local IPv6 addresses inside the host either
        for key in ("all", "default"):
            _run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1")
    _run("ip", "-n", ns, "link", "set", "lo", "up")
    for index, vif in enumerate(state["vifs"]):
        _ensure_vif(ns, uuid, index, vif)
    _ensure_sshd(base, state)
    for volume_id, vol in sorted(state["volumes"].items()):
        _ensure_volume(base, state, volume_id, vol["file"])
    _save(base, state)


def _ensure_vif(ns: str, uuid: str, index: int, vif: dict) -> None:
    inner = f"eth{index}"
    outer = veth_name(uuid, index)
    have_inner = any(link["ifname"] == inner for link in _ipj("-n", ns, "link", "show"))
    if not have_inner:
        if _exists_quiet(outer):  # half-made earlier
            _run("ip", "link", "del", outer)
        tmp = f"dci{_short(uuid)}{index}"
        _run("ip", "link", "add", outer, "type", "veth", "peer", "name", tmp)
        _no_ipv6(outer)
        _run("ip", "link", "set", tmp, "netns", ns)
        _run("ip", "-n", ns, "link", "set", tmp, "name", inner)
        if vif.get("mac"):
            _run("ip", "-n", ns, "link", "set", inner, "address", vif["mac"])
    for ip in vif["ips"]:
        prefix = ipaddress.ip_network(ip["cidr"]).prefixlen
        _run("ip", "-n", ns, "addr", "replace", f"{ip['address']}/{prefix}", "dev", inner)
    _run("ip", "-n", ns, "link", "set", inner, "up")
    bridge = _ensure_bridge(vif)
    _run("ip", "link", "set", outer, "master", bridge)
    _run("ip", "link", "set", outer, "up")
    if _peering(bridge):
        # on-link (no gateway): the bridge answers ARP for the other external networks
        _run("ip", "-n", ns, "route", "replace", str(PEER_SUPERNET), "dev", inner)


def _peering(bridge: str) -> bool:
    """Whether ``bridge`` holds the gateway of a subnet inside PEER_SUPERNET; if so, make sure it
    forwards to (and only to) the other such bridges."""
    nets = [
        ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
        for a in _addrs(bridge)
        if ipaddress.ip_address(a["local"]) in PEER_SUPERNET
    ]
    if not nets:
        return False
    for key, value in (("ipv4/conf/%s/forwarding", "1"), ("ipv4/conf/%s/proxy_arp", "1"),
                       ("ipv4/neigh/%s/proxy_delay", "0")):  # fmt: skip
        with open("/proc/sys/net/" + key % bridge, "w") as f:
            f.write(value)
    for net in nets:
        _run("ip", "route", "replace", str(net), "dev", bridge, "table", PEER_TABLE)
    _run("ip", "route", "replace", "unreachable", "default", "table", PEER_TABLE)
    if not any(r.get("iif") == bridge for r in _ipj("-4", "rule", "show")):
        _run("ip", "-4", "rule", "add", "iif", bridge, "lookup", PEER_TABLE, "priority", PEER_TABLE)
    return True


def _no_ipv6(dev: str) -> None:
    path = f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"
    if os.path.exists(path):
        with open(path, "w") as f:
            f.write("1")


def _ensure_bridge(vif: dict) -> str:
    bridge = bridge_name(vif["network_id"])
    if not _exists_quiet(bridge):
        _run("ip", "link", "add", bridge, "type", "bridge")
        # a plain L2 switch: no STP delay before ports forward
        _run("ip", "link", "set", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        _no_ipv6(bridge)
    _run("ip", "link", "set", bridge, "up")
    for ip in vif["ips"]:
        gateway = ip.get("gateway")
        if not gateway:
            continue
        net = ipaddress.ip_network(ip["cidr"])
        if not net.is_private:  # never route public addresses into the test bed
            continue
        mine = f"{gateway}/{net.prefixlen}"
        if any(a["local"] == gateway for a in _addrs(bridge)):
            continue
        # only when nothing else in the root namespace owns this subnet (the
        # src and dst projects may both use 10.0.0.0/24: then layer 2 only)
        taken = [r for r in _ipj("-4", "route", "show", "to", "exact", str(net)) if r.get("dev") != bridge]
        if taken or any(a["local"] == gateway for a in _addrs(None)):
            continue
        _run("ip", "addr", "add", mine, "dev", bridge)
    return bridge


def _addrs(dev: str | None) -> list[dict]:
    args = ["-4", "addr", "show"] + (["dev", dev] if dev else [])
    return [a for link in _ipj(*args) for a in link.get("addr_info", [])]


def _sshd_pid(base: str, uuid: str) -> int | None:
    """PID of the host's sshd listener, if it runs inside the host's namespace."""
    try:
        with open(os.path.join(host_dir(base, uuid), "sshd.pid")) as f:
            pid = int(f.read().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if _pid_in_ns(pid, uuid) else None


def _pid_in_ns(pid: int, uuid: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns_name(uuid)}").st_ino
    except OSError:
        return False


def _ensure_sshd(base: str, state: dict) -> None:
    uuid = state["uuid"]
    d = host_dir(base, uuid)
    if _sshd_pid(base, uuid):
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(d, "sshd.pid"))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep chroot
    if not os.path.isdir(BY_ID):  # the mount point; no udev here
        os.makedirs(BY_ID)
        open(os.path.join(base, ".made-dev-disk"), "w").close()
    cfg = os.path.join(d, "sshd_config")
    _run(SSHD, "-t", "-f", cfg)
    os.makedirs(ROOT_SSH, mode=0o700, exist_ok=True)  # the mount point of the host's own ~/.ssh
    # its own /dev/disk/by-id, ~/.ssh and /run (a tmpfs, as a booted server has; sshd needs /run/sshd)
    script = (
        'mount --bind "$1" "$2" && mount --bind "$3" "$4" && mount -t tmpfs -o mode=0755 tmpfs /run '
        '&& mkdir -p /run/sshd && exec "$5" -f "$6" -E "$7"'
    )
    _run(
        "ip", "netns", "exec", ns_name(uuid),
        "unshare", "--mount", "--propagation", "private",
        "sh", "-c", script, "sh", os.path.join(d, "by-id"), BY_ID, os.path.join(d, "root-ssh"), ROOT_SSH,
        SSHD, cfg, os.path.join(d, "sshd.log"),
    )  # fmt: skip
    # sshd writes its pid file once it listens and has detached
    for _ in range(100):
        if _sshd_pid(base, uuid):
            return
        time.sleep(0.1)
    raise ConvHostError(f"{uuid}: sshd did not start; see {d}/sshd.log")


# ------------------------------------------------------------------ volumes


def attach(base: str, uuid: str, volume_id: str, path: str) -> str | None:
    """Record the volume; if the host is up, link its loop device. Returns the link."""
    if not os.path.isfile(path):
        raise ConvHostError(f"volume file {path} not found")
    with _locked(base):
        state = load(base, uuid)
        if state is None:
            raise ConvHostError(f"{uuid}: not a conversion host")
        state["volumes"][volume_id] = {"file": path}
        _save(base, state)
        if ns_name(uuid) in _netns_list():
            _ensure_volume(base, state, volume_id, path)
            _save(base, state)
            return os.path.join(BY_ID, serial_name(volume_id))
        return None


def _loops_of(path: str) -> list[str]:
    out = _run("losetup", "-n", "-O", "NAME", "-j", path, check=False)
    return [line.strip() for line in out.splitlines() if line.strip()]


def _ensure_volume(base: str, state: dict, volume_id: str, path: str) -> None:
    vol = state["volumes"][volume_id]
    loop = vol.get("loop")
    if not loop or loop not in _loops_of(path):
        loop = _run("losetup", "--find", "--show", path).strip()
        vol["loop"] = loop
    link = os.path.join(host_dir(base, state["uuid"]), "by-id", serial_name(volume_id))
    if os.path.islink(link) and os.readlink(link) == loop:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    os.symlink(loop, link)


def _release_volume(base: str, uuid: str, volume_id: str, vol: dict) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(host_dir(base, uuid), "by-id", serial_name(volume_id)))
    loop = vol.pop("loop", None)
    if loop and loop in _loops_of(vol["file"]):
        _run("losetup", "-d", loop, check=False)


def detach(base: str, uuid: str, volume_id: str) -> None:
    with _locked(base):
        state = load(base, uuid)
        if state is None or volume_id not in state["volumes"]:
            return
        _release_volume(base, uuid, volume_id, state["volumes"].pop(volume_id))
        _save(base, state)


# ------------------------------------------------------------------ teardown


def teardown(base: str, uuid: str) -> None:
    """Stop the host: processes, namespace, veths, loop devices. Keeps its state."""
    with _locked(base):
        _teardown(base, uuid)


def _teardown(base: str, uuid: str) -> None:
    ns = ns_name(uuid)
    if ns in _netns_list():
        _kill_ns_processes(ns)
        _run("ip", "netns", "del", ns, check=False)
    state = load(base, uuid)
    for index in range(len(state["vifs"]) if state else 4):
        if _exists_quiet(veth_name(uuid, index)):
            _run("ip", "link", "del", veth_name(uuid, index), check=False)
    if state:
        for volume_id, vol in state["volumes"].items():
            _release_volume(base, uuid, volume_id, vol)
        _save(base, state)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(host_dir(base, uuid), "sshd.pid"))
    _drop_unused_bridges()


def _kill_ns_processes(ns: str) -> None:
    def pids() -> list[int]:
        return [int(p) for p in _run("ip", "netns", "pids", ns, check=False).split()]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for _ in range(30):
            if not pids():
                return
            time.sleep(0.1)


def _drop_unused_bridges() -> None:
    for link in _ipj("link", "show", "type", "bridge"):
        name = link["ifname"]
        if name.startswith("dcbr") and not _ipj("link", "show", "master", name):
            _run("ip", "link", "del", name, check=False)
    # peering rules of bridges that are gone; the table once no bridge uses it
    bridges = {link["ifname"] for link in _ipj("link", "show", "type", "bridge")}
    for rule in _ipj("-4", "rule", "show"):
        if rule.get("table") == PEER_TABLE and rule.get("iif") and rule["iif"] not in bridges:
            _run("ip", "-4", "rule", "del", "iif", rule["iif"], "lookup", PEER_TABLE, check=False)
    if not any(r.get("table") == PEER_TABLE for r in _ipj("-4", "rule", "show")):
        _run("ip", "-4", "route", "flush", "table", PEER_TABLE, check=False)


def _drop_dev_disk(base: str) -> None:
    """Remove /dev/disk/by-id again if we made it and no host is left."""
    marker = os.path.join(base, ".made-dev-disk")
    if not os.path.exists(marker) or any(n.startswith(NS_PREFIX) for n in _netns_list()):
        return
    with contextlib.suppress(OSError):
        os.rmdir(BY_ID)
        os.rmdir(os.path.dirname(BY_ID))
    os.unlink(marker)


def delete(base: str, uuid: str) -> None:
    with _locked(base):
        if not os.path.isdir(host_dir(base, uuid)):
            return
        _teardown(base, uuid)
        shutil.rmtree(host_dir(base, uuid))
        _drop_dev_disk(base)


def teardown_all(base: str, spare: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Stop every host of ``base`` (keeps state) and remove any devcloud leftovers.

    ``spare`` (and every other state dir in ``BASES_FILE``): state dirs of other devclouds on this
    machine (the second cloud): their hosts, namespaces and veths are left alone; leftovers are
    namespaces and veths that belong to no host of ``base`` or of another state dir.
    """
    done = []
    mine = os.path.abspath(base)
    spares = {os.path.abspath(b) for b in [*spare, *known_bases()]} - {mine}
    others = {uuid for other in spares for uuid in host_uuids(other)}
    with _locked(base):
        for uuid in host_uuids(base):
            _teardown(base, uuid)
            done.append(uuid)
        # and any namespace whose sshd runs from another state dir (one that is not registered)
        others |= {
            ns[len(NS_PREFIX) :]
            for ns in _netns_list()
            if ns.startswith(NS_PREFIX) and _ns_sshd_base(ns) not in (None, mine)
        }
        others_veths = {veth_name(uuid, index) for uuid in others for index in range(16)}
        for ns in _netns_list():  # namespaces whose state is gone
            if ns.startswith(NS_PREFIX) and ns[len(NS_PREFIX) :] not in others:
                _kill_ns_processes(ns)
                _run("ip", "netns", "del", ns, check=False)
                done.append(ns)
        for link in _ipj("link", "show", "type", "veth"):
            if link["ifname"].startswith("dcv") and link["ifname"] not in others_veths:
                _run("ip", "link", "del", link["ifname"], check=False)
        _drop_unused_bridges()
        _drop_dev_disk(base)
    return done


def _ns_sshd_base(ns: str) -> str | None:
    """The state dir of the sshd running in namespace ``ns`` (``-f <base>/<uuid>/sshd_config``)."""
    for pid in _run("ip", "netns", "pids", ns, check=False).split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                # sshd rewrites its argv into one title: "sshd: /usr/sbin/sshd -f … [listener] …"
                args = f.read().decode(errors="replace").replace("\0", " ").split()
        except OSError:
            continue
        for arg in args:
            if (
                arg.endswith("/sshd_config")
                and os.path.basename(os.path.dirname(arg)) == ns[len(NS_PREFIX) :]
            ):
                return os.path.dirname(os.path.dirname(arg))
    return None


def ensure_all(base: str) -> list[str]:
    return [ensure(base, uuid)["uuid"] for uuid in host_uuids(base)]


def status(base: str) -> list[dict]:
    out = []
    for uuid in host_uuids(base):
        state = load(base, uuid)
        pid = _sshd_pid(base, uuid)
        out.append(
            {
                "uuid": uuid,
                "name": state.get("name"),
                "netns": ns_name(uuid) in _netns_list(),
                "sshd": pid,
                "addresses": addresses(state),
                "volumes": {v: vol.get("loop") for v, vol in state["volumes"].items()},
            }
        )
    return out


# ------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="state directory ($DEVCLOUD_HOME/data/convhost)")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="create a host without Nova (tests)")
    c.add_argument("uuid")
    c.add_argument("--key-file", required=True, help="public key for root")
    c.add_argument("--ip", required=True, help="ADDRESS/PREFIX")
    c.add_argument("--gateway", default="")
    c.add_argument("--network", default="standalone")
    c.add_argument("--name", default="")
    for name in ("ensure", "teardown", "delete"):
        sub.add_parser(name).add_argument("uuid")
    a = sub.add_parser("attach")
    a.add_argument("uuid")
    a.add_argument("volume_id")
    a.add_argument("file")
    d = sub.add_parser("detach")
    d.add_argument("uuid")
    d.add_argument("volume_id")
    sub.add_parser("ensure-all")
    t = sub.add_parser("teardown-all")
    t.add_argument("--spare", action="append", default=[], help="another devcloud's state dir: left alone")
    sub.add_parser("status")
    sub.add_parser("console").add_argument("uuid")
    args = p.parse_args(argv)
    base = args.base
    if args.cmd == "create":
        iface = ipaddress.ip_interface(args.ip)
        with open(args.key_file) as f:
            key = f.read()
        vif = {
            "id": "standalone",
            "mac": "",
            "network_id": args.network,
            "ips": [{"address": str(iface.ip), "cidr": str(iface.network), "gateway": args.gateway}],
        }
        print(json.dumps(create(base, args.uuid, key, [vif], args.name), indent=1))
    elif args.cmd == "ensure":
        ensure(base, args.uuid)
    elif args.cmd == "teardown":
        teardown(base, args.uuid)
    elif args.cmd == "delete":
        delete(base, args.uuid)
    elif args.cmd == "attach":
        print(attach(base, args.uuid, args.volume_id, args.file))
    elif args.cmd == "detach":
        detach(base, args.uuid, args.volume_id)
    elif args.cmd == "ensure-all":
        print("\n".join(ensure_all(base)))
    elif args.cmd == "teardown-all":
        print("\n".join(teardown_all(base, args.spare)))
    elif args.cmd == "status":
        print(json.dumps(status(base), indent=1))
    elif args.cmd == "console":
        print(console_text(base, args.uuid), end="")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConvHostError as e:
        print(f"convhost: {e}", file=sys.stderr)
        sys.exit(1)
