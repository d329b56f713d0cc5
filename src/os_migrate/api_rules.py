"""What the destination APIs refuse, checked on the data before any write.

Each function returns error strings ``<field>: <problem>`` (the caller prefixes file and
resource, see :func:`os_migrate.dataset.check_record`); none makes a request. The resource classes
call them from :meth:`~os_migrate.resources.base.Resource.value_errors` (one record) and
:func:`os_migrate.validation.cross_record_errors` (several records: subnets of one network,
addresses inside the subnets of the data set).

Source of each rule (API references at ``docs.openstack.org/api-ref/<service>/``, and the
validators the services run on the request body; "config" means a service default an operator
may change):

========================================  =====================================================
Check                                      Source
========================================  =====================================================
names/descriptions <= 255 (Neutron)        network api-ref, neutron-lib ``NAME_MAX_LEN``/
                                           ``DESCRIPTION_MAX_LEN`` (255)
subnet ``cidr`` is a network (no host      network api-ref "Create subnet"; neutron-lib
bits), matches ``ip_version``              ``validate_subnet`` ("is recommended")
gateway, pools, routes, nameservers: IPs   network api-ref "Create subnet"; neutron
of the subnet's version; pools inside      ``ipam_backend_mixin`` (pool spans beyond cidr, pools
the cidr (not network/v4 broadcast),       overlap, gateway conflicts with pool), neutron-lib
start <= end, not overlapping, gateway     ``validate_nameservers`` / ``validate_hostroutes``
(or, absent, the first address) outside    (duplicates; destinations validated as subnets)
them; no duplicate nameserver or route;
route destinations without host bits
ipv6 modes need ip_version 6 and agree     network api-ref "Create subnet" (ipv6_ra_mode)
subnets of one network do not overlap      network api-ref "Create subnet" (409/400 overlap)
rule protocol: name or 0-255; ports        network api-ref "Create security group rule";
0-65535 (TCP/UDP/SCTP/DCCP/UDPLite:        neutron ``securitygroups_db._validate_port_range``
1-65535), min <= max, need a protocol;
ICMP type/code 0-255
rule ``ether_type`` = family of            neutron ``_validate_ip_prefix`` ("Conflicting value
``remote_ip_prefix`` and of IPv6-only      ethertype"), ``_validate_ethertype_and_protocol``,
protocols; one remote only                 api-ref (remote_group_id xor prefix)
router routes: destination CIDR,           network api-ref "Update router" (extraroute)
nexthop IP of the same family
MAC addresses: unicast EUI-48              neutron-lib ``validate_mac_address``
allowed address pairs: IP/CIDR, MAC        network api-ref "allowed-address-pairs"
DNS domain: labels, <= 255                 neutron-lib ``validate_dns_domain``
image disk/container format enumeration    image api-ref v2 "Create image" (glance-api.conf
                                           ``disk_formats``/``container_formats`` defaults)
image name <= 255, tags <= 255             image api-ref v2 schema (``/v2/schemas/image``)
keypair name 1-255, letters, digits,       compute api-ref "Import keypair" (microversion 2.10
``_ -`` (``.@`` since 2.92, which the      of openstacksdk's Keypair), nova
SDK's keypair does not negotiate)          ``_validate_new_key_pair``
keypair public key parses (OpenSSH or,     compute api-ref; nova ``crypto.generate_fingerprint``
``type: x509``, a PEM certificate)         / x509 fingerprint (400 "Keypair data is invalid")
server name 1-255, no leading/trailing     compute api-ref "Create server" (``name`` parameter
whitespace; metadata keys 1-255, values    type); server tags <= 60 chars, no ``/`` or ``,``, at
<= 255; tags; user_data base64 <= 65535    most 50 (microversion 2.26+); user_data size
server group, flavor names                 compute api-ref "Create flavor" (name 1-255, no
                                           leading/trailing space); vcpus/ram 1..2**31-1,
                                           disk/ephemeral/swap 0..2**31-1, rxtx_factor <= 3.4e38
volume size >= 1 (schema), name and        block-storage api-ref v3 "Create volume" (name and
description <= 255, metadata <= 255        description 255; metadata key/value 255)
Keystone names: domain/project/group       identity api-ref v3 (keystone schemas: project and
<= 64, user/role <= 255; not blank         domain name 64, group 64, user 255, role 255)
floating IP addresses are IPs; the fixed   network api-ref "Create floating IP" (fixed_ip_address
address is one of the server's fixed IPs   must be an address of the port)
fixed IPs, router interface IPs: inside    network api-ref "Create port" (fixed_ips: "IP address
the subnet's cidr, not its network or v4   ... not a valid IP for the specified subnet")
broadcast address (subnet of the data set
or, in the workload pre-flight, of the
destination)
========================================  =====================================================

Checks that need the destination (references, flavors, quotas, free fixed IPs and MACs,
extensions and microversions) are made with reads only by :mod:`os_migrate.validation` and the
workload pre-flight (:mod:`os_migrate.workload.checks`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Neutron's name and description limit (neutron-lib ``NAME_MAX_LEN``, ``DESCRIPTION_MAX_LEN``).
NEUTRON_NAME_MAX = 255
#: Nova's name limit (servers, flavors, keypairs, server groups).
NOVA_NAME_MAX = 255
#: Keystone name limits per type.
KEYSTONE_NAME_MAX = {"domains": 64, "projects": 64, "groups": 64, "users": 255, "roles": 255}
#: Glance's name and tag limit.
GLANCE_STR_MAX = 255
#: Cinder's name and description limit, and metadata key/value limit.
CINDER_STR_MAX = 255
#: Glance's default ``disk_formats`` and ``container_formats`` (glance-api.conf).
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
#: Largest value of Nova's integer columns (flavor vcpus, ram, disk...).
INT32_MAX = 2**31 - 1
#: IP protocol names Neutron accepts in a security group rule (neutron-lib ``IP_PROTOCOL_MAP``).
RULE_PROTOCOLS = (
    "ah",
    "any",
    "dccp",
    "egp",
    "esp",
    "gre",
    "hopopt",
    "icmp",
    "icmpv6",
    "igmp",
    "ip",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
    "tcp",
    "udp",
    "udplite",
    "vrrp",
)
#: Protocols whose port range is a port range (ports 1-65535), by name and number.
_PORT_PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136}
#: Protocols whose port range is an ICMP type/code (0-255).
_ICMP_PROTOCOLS = {"icmp": 1, "icmpv6": 58, "ipv6-icmp": 58}
#: Protocols Neutron refuses with ``ether_type: IPv4`` (neutron-lib ``IPV6_ONLY_PROTOCOLS``).
_IPV6_ONLY_PROTOCOLS = tuple(p for p in RULE_PROTOCOLS if p == "icmpv6" or p.startswith("ipv6-"))
#: Characters of a keypair name (Nova before microversion 2.92).
_KEYPAIR_NAME = re.compile(r"^[A-Za-z0-9 _-]+$")
_MAC = re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
#: Nova server tags (microversion 2.26): length and count limits.
SERVER_TAG_MAX, SERVER_TAGS_MAX = 60, 50
#: Nova's limit on decoded user data.
USER_DATA_MAX = 65535


def length_errors(field: str, value: Any, limit: int, *, blank: bool = True) -> list[str]:
    """``value`` (a string or None) longer than ``limit`` characters, or (``blank=False``) empty
    or only whitespace."""
    if not isinstance(value, str):
        return []
    if len(value) > limit:
        return [f"{field}: {len(value)} characters, the API accepts at most {limit}"]
    if not blank and not value.strip():
        return [f"{field}: must not be blank"]
    return []


def nova_name_errors(field: str, value: Any) -> list[str]:
    """A Nova name: 1-255 characters, printable, no leading or trailing whitespace."""
    if not isinstance(value, str):
        return []
    errors = length_errors(field, value, NOVA_NAME_MAX, blank=False)
    if not errors and value != value.strip():
        errors.append(f"{field}: {value!r} has leading or trailing whitespace, which Nova refuses")
    if not errors and not value.isprintable():
        errors.append(f"{field}: {value!r} has non-printable characters, which Nova refuses")
    return errors


def ip_errors(field: str, value: Any, version: int | None = None) -> list[str]:
    """``value`` is an IP address (of ``version`` when given)."""
    if value is None:
        return []
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return [f"{field}: {value!r} is not an IP address"]
    if version is not None and ip.version != version:
        return [f"{field}: {value!r} is an IPv{ip.version} address, expected IPv{version}"]
    return []


def cidr_errors(field: str, value: Any, version: int | None = None, *, strict: bool = False) -> list[str]:
    """``value`` is an IP network in CIDR notation (without host bits when ``strict``)."""
    if value is None:
        return []
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [f"{field}: {value!r} is not a CIDR"]
    if version is not None and net.version != version:
        return [f"{field}: {value!r} is an IPv{net.version} network, expected IPv{version}"]
    if strict:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            return [f"{field}: {value!r} has host bits set; the API wants {str(net)!r}"]
        if "/" not in str(value):
            return [f"{field}: {value!r} has no prefix length; the API wants {str(net)!r}"]
    return []


def ip_or_cidr_errors(field: str, value: Any) -> list[str]:
    """``value`` is an IP address or a CIDR."""
    if value is None:
        return []
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [f"{field}: {value!r} is not an IP address or CIDR"]
    return []


def mac_errors(field: str, value: Any) -> list[str]:
    """``value`` is a unicast EUI-48 MAC address (``fa:16:3e:00:00:01``)."""
    if value is None:
        return []
    if not isinstance(value, str) or not _MAC.match(value):
        return [f"{field}: {value!r} is not a MAC address"]
    first = int(value[:2], 16)
    if first & 1 or value.replace("-", ":").lower() == "00:00:00:00:00:00":
        return [f"{field}: {value!r} is a multicast or zero MAC address, which Neutron refuses"]
    return []


def dns_domain_errors(field: str, value: Any) -> list[str]:
    """``value`` is a DNS domain: dot-separated labels of 1-63 letters, digits and dashes (the
    trailing dot optional: lenient where neutron-lib's exact rule was not confirmed)."""
    if not value:
        return []
    if len(value) > 255:
        return [f"{field}: {len(value)} characters, the API accepts at most 255"]
    if not all(_DNS_LABEL.match(label) for label in value.removesuffix(".").split(".")):
        return [f"{field}: {value!r} is not a DNS domain (dot-separated labels of letters, digits, '-')"]
    return []


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except (ValueError, TypeError):
        return None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return None


def subnet_errors(params: Mapping[str, Any]) -> list[str]:
    """Errors of a subnet's addressing (see the module docstring's table)."""
    errors: list[str] = []
    version = params.get("ip_version")
    cidr = params.get("cidr")
    errors += cidr_errors("params.cidr", cidr, version, strict=True)
    net = _network(cidr) if not errors else None
    gateway = params.get("gateway_ip")
    errors += ip_errors("params.gateway_ip", gateway, version)
    gw = _address(gateway)
    if "gateway_ip" not in params and net is not None and net.num_addresses > 2:
        # Absent (not null): Neutron gives the subnet its first address as gateway.
        gw = net.network_address + 1
        gateway = f"{gw} (Neutron's default gateway, params.gateway_ip being absent)"
    if net is not None and gw is not None and gw.version == net.version:
        if gw == net.network_address and net.num_addresses > 1:
            errors.append(f"params.gateway_ip: {gateway!r} is the network address of {cidr}")
        elif net.version == 4 and gw == net.broadcast_address and net.num_addresses > 2:
            errors.append(f"params.gateway_ip: {gateway!r} is the broadcast address of {cidr}")
    pools: list[tuple[int, tuple[int, int]]] = []
    for i, pool in enumerate(params.get("allocation_pools") or []):
        where = f"params.allocation_pools[{i}]"
        errs = ip_errors(f"{where}.start", pool.get("start"), version)
        errs += ip_errors(f"{where}.end", pool.get("end"), version)
        errors += errs
        if errs:
            continue
        # Same version (checked above): compare as integers.
        start, end = int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))
        if start > end:
            errors.append(f"{where}: start {pool['start']} is after end {pool['end']}")
            continue
        if net is not None and net.version == ipaddress.ip_address(pool["start"]).version:
            first = int(net.network_address) + 1
            last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
            if start < first or end > last:
                errors.append(
                    f"{where}: {pool['start']}-{pool['end']} is not inside the usable addresses of {cidr}"
                )
                continue
        if (
            gw is not None
            and gw.version == ipaddress.ip_address(pool["start"]).version
            and start <= int(gw) <= end
        ):
            errors.append(f"{where}: contains the gateway {gateway}, which Neutron refuses")
        for j, (s, e) in pools:
            if start <= e and s <= end:
                errors.append(f"{where}: overlaps params.allocation_pools[{j}]")
        pools.append((i, (start, end)))
    seen: set[str] = set()
    for i, ns in enumerate(params.get("dns_nameservers") or []):
        errs = ip_errors(f"params.dns_nameservers[{i}]", ns, version)
        errors += errs
        if not errs and ns in seen:
            errors.append(f"params.dns_nameservers[{i}]: {ns!r} is listed twice")
        seen.add(ns)
    errors += routes_errors("params.host_routes", params.get("host_routes"), version)
    if version == 4:
        for mode in ("ipv6_address_mode", "ipv6_ra_mode"):
            if params.get(mode):
                errors.append(f"params.{mode}: set on an IPv4 subnet, which Neutron refuses")
    ra, addr = params.get("ipv6_ra_mode"), params.get("ipv6_address_mode")
    if ra and addr and ra != addr:
        errors.append(
            f"params.ipv6_ra_mode: {ra!r} differs from ipv6_address_mode {addr!r}; when both are set they must be equal"
        )
    return errors


def routes_errors(field: str, routes: Any, version: int | None = None) -> list[str]:
    """Host routes or router routes: destination a CIDR without host bits (neutron-lib validates it
    as a subnet), nexthop an IP of its family; no duplicates."""
    errors: list[str] = []
    seen = set()
    for i, route in enumerate(routes or []):
        where = f"{field}[{i}]"
        errs = cidr_errors(f"{where}.destination", route.get("destination"), version, strict=True)
        errs += ip_errors(f"{where}.nexthop", route.get("nexthop"), version)
        errors += errs
        if errs:
            continue
        dest, hop = (
            ipaddress.ip_network(route["destination"], strict=False),
            ipaddress.ip_address(route["nexthop"]),
        )
        if dest.version != hop.version:
            errors.append(
                f"{where}: destination {route['destination']} and nexthop {route['nexthop']} differ in IP version"
            )
        key = (str(dest), str(hop))
        if key in seen:
            errors.append(f"{where}: listed twice")
        seen.add(key)
    return errors


def rule_errors(params: Mapping[str, Any]) -> list[str]:
    """Errors of a security group rule's protocol, ports and remote."""
    errors: list[str] = []
    proto = params.get("protocol")
    number: int | None = None
    if proto is not None:
        text = str(proto).lower()
        if text.isdigit():
            number = int(text)
            if number > 255:
                errors.append(f"params.protocol: {proto!r} is not an IP protocol number (0-255)")
        elif text not in RULE_PROTOCOLS:
            errors.append(
                f"params.protocol: {proto!r} is not a protocol Neutron knows ({', '.join(RULE_PROTOCOLS)} or 0-255)"
            )
        else:
            number = _PORT_PROTOCOLS.get(text, _ICMP_PROTOCOLS.get(text, 256))
    lo, hi = params.get("port_range_min"), params.get("port_range_max")
    if lo is not None or hi is not None:
        if proto is None or str(proto).lower() == "any":
            errors.append("params.port_range_min: a port range needs a protocol")
        elif number in _PORT_PROTOCOLS.values():
            for f, v in (("port_range_min", lo), ("port_range_max", hi)):
                if v is not None and not 1 <= v <= 65535:
                    errors.append(f"params.{f}: {v} is not a port (1-65535)")
            if lo is None or hi is None:
                errors.append("params.port_range_min: a port range needs both minimum and maximum")
            elif lo > hi:
                errors.append(f"params.port_range_min: {lo} is greater than port_range_max {hi}")
        elif number in _ICMP_PROTOCOLS.values():
            for f, v in (("port_range_min", lo), ("port_range_max", hi)):
                if v is not None and not 0 <= v <= 255:
                    errors.append(f"params.{f}: {v} is not an ICMP type/code (0-255)")
            if lo is None and hi is not None:
                errors.append("params.port_range_max: an ICMP code needs an ICMP type (port_range_min)")
        elif number is not None:
            errors.append(f"params.port_range_min: protocol {proto!r} has no ports")
    prefix = params.get("remote_ip_prefix")
    errors += cidr_errors("params.remote_ip_prefix", prefix)
    net = _network(prefix)
    ether = params.get("ether_type")
    if net is not None and ether in ("IPv4", "IPv6") and f"IPv{net.version}" != ether:
        errors.append(f"params.remote_ip_prefix: {prefix!r} is IPv{net.version} but ether_type is {ether}")
    if str(proto).lower() in _IPV6_ONLY_PROTOCOLS and ether == "IPv4":
        errors.append(f"params.protocol: {proto!r} is an IPv6 protocol but ether_type is IPv4")
    if str(proto).lower() == "icmp" and ether == "IPv6":
        errors.append("params.protocol: 'icmp' with ether_type IPv6; Neutron wants 'ipv6-icmp' there")
    remotes = [k for k in ("remote_ip_prefix", "remote_group", "remote_address_group") if params.get(k)]
    if len(remotes) > 1:
        errors.append(f"params.{remotes[1]}: only one remote is allowed, got {', '.join(remotes)}")
    return errors


def keypair_errors(params: Mapping[str, Any]) -> list[str]:
    """A keypair's name (Nova's characters and length) and its public key (parseable)."""
    errors: list[str] = []
    name = params.get("name")
    if isinstance(name, str):
        errors += length_errors("params.name", name, NOVA_NAME_MAX)
        if name and not _KEYPAIR_NAME.match(name):
            errors.append(f"params.name: {name!r} may hold only letters, digits, spaces, '_' and '-' (Nova)")
    key = params.get("public_key")
    if isinstance(key, str) and key:
        errors += public_key_errors("params.public_key", key, params.get("type") or "ssh")
    return errors


def public_key_errors(field: str, key: str, key_type: str = "ssh") -> list[str]:
    """The public key parses as an OpenSSH public key (or a PEM X.509 certificate for ``x509``)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    data = key.strip().encode("utf-8", "replace")
    try:
        if key_type == "x509":
            x509.load_pem_x509_certificate(data)
        else:
            load_ssh_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError) as e:
        what = "a PEM X.509 certificate" if key_type == "x509" else "an OpenSSH public key"
        return [f"{field}: is not {what} ({e})"]
    return []


def metadata_errors(field: str, metadata: Any, limit: int = 255) -> list[str]:
    """Metadata keys of 1-``limit`` characters and string values of at most ``limit``."""
    errors: list[str] = []
    for k, v in (metadata or {}).items():
        if not 1 <= len(str(k)) <= limit:
            errors.append(f"{field}.{k}: keys must be 1-{limit} characters")
        if isinstance(v, str) and len(v) > limit:
            errors.append(f"{field}.{k}: value of {len(v)} characters, the API accepts at most {limit}")
    return errors


def server_tag_errors(field: str, tags: Iterable[Any] | None) -> list[str]:
    """Nova server tags: at most 50, each 1-60 characters without ``/`` or ``,``."""
    tags = list(tags or [])
    errors = []
    if len(tags) > SERVER_TAGS_MAX:
        errors.append(f"{field}: {len(tags)} tags, Nova accepts at most {SERVER_TAGS_MAX}")
    for i, t in enumerate(tags):
        if not isinstance(t, str) or not 1 <= len(t) <= SERVER_TAG_MAX or "/" in t or "," in t:
            errors.append(
                f"{field}[{i}]: {t!r} is not a Nova tag (1-{SERVER_TAG_MAX} characters, no '/' or ',')"
            )
    return errors


def user_data_errors(field: str, value: Any) -> list[str]:
    """Server user data: base64 of at most 65535 bytes."""
    if not value:
        return []
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return [f"{field}: is not base64"]
    if len(raw) > USER_DATA_MAX:
        return [f"{field}: {len(raw)} bytes once decoded, Nova accepts at most {USER_DATA_MAX}"]
    return []


def int_range_errors(field: str, value: Any, lo: int, hi: int) -> list[str]:
    """An integer inside ``[lo, hi]``."""
    if isinstance(value, int) and not isinstance(value, bool) and not lo <= value <= hi:
        return [f"{field}: {value} is outside {lo}..{hi}"]
    return []


def host_ip_errors(field: str, address: Any, cidr: Any) -> list[str]:
    """A port's fixed IP: inside ``cidr`` and neither its network address nor (IPv4) its
    broadcast address (Neutron: "not a valid IP for the specified subnet"). Unparseable values
    give no error here (:func:`ip_errors` / :func:`cidr_errors` report them)."""
    ip, net = _address(address), _network(cidr)
    if ip is None or net is None:
        return []
    if ip.version != net.version or ip not in net:
        return [f"{field}: {address} is not inside {cidr}"]
    if net.num_addresses > 2 and (
        ip == net.network_address or (net.version == 4 and ip == net.broadcast_address)
    ):
        return [f"{field}: {address} is the network or broadcast address of {cidr}"]
    return []


def subnets_overlap_errors(subnets: Iterable[tuple[str, Any, Any]]) -> list[str]:
    """``(location, network key, cidr)`` of subnets: an error per subnet whose CIDR overlaps an
    earlier one of the same network (Neutron refuses overlapping subnets on one network)."""
    errors: list[str] = []
    seen: dict[Any, list[tuple[str, Any]]] = {}
    for where, network, cidr in subnets:
        net = _network(cidr)
        if net is None:
            continue
        for other_where, other in seen.get(network, []):
            if net.version == other.version and net.overlaps(other):
                errors.append(
                    f"{where}: params.cidr: {cidr} overlaps {other} of {other_where} on the same network"
                )
                break
        seen.setdefault(network, []).append((where, net))
    return errors
