"""Neutron resource types: networks, subnets, routers, router interfaces, security groups,
address groups and security group rules.

Param names are openstacksdk attribute names (``is_shared``, ``is_dhcp_enabled``, ``ether_type``);
see ``openstack/network/v2/*.py``. References replace ``*_id`` attributes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc
from openstack.network.v2.network import Network as SdkNetwork
from openstack.network.v2.port import Port as SdkPort
from openstack.network.v2.security_group import SecurityGroup as SdkSecurityGroup
from openstack.network.v2.security_group_rule import SecurityGroupRule as SdkSecurityGroupRule
from openstack.network.v2.subnet import Subnet as SdkSubnet

from os_migrate import api_rules
from os_migrate.cloud import bulk_create
from os_migrate.exceptions import ConflictError, OsMigrateError
from os_migrate.references import RefIndex, make_ref
from os_migrate.resources.base import REF_SCHEMA, Resource

LOG = logging.getLogger(__name__)

_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
_PORT = {"type": ["integer", "null"], "minimum": 0, "maximum": 65535}
_ROUTES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["destination", "nexthop"],
        "properties": {"destination": _STR, "nexthop": _STR},
        "additionalProperties": False,
    },
}

#: device_owner values of router interface ports (neutron_lib.constants ROUTER_INTERFACE_OWNERS).
ROUTER_INTERFACE_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)


def _text_errors(params: Mapping[str, Any]) -> list[str]:
    """Neutron's 255-character limit on ``name`` and ``description``."""
    return [
        e
        for f in ("name", "description")
        for e in api_rules.length_errors(f"params.{f}", params.get(f), api_rules.NEUTRON_NAME_MAX)
    ]


class Network(Resource):
    """A Neutron network. ``mtu`` and ``provider_*`` are facts of the source's underlay and go
    to ``_info``: the destination picks its own for its network type."""

    type = "openstack.network.Network"
    type_key = "networks"
    ref_kind = "network"
    params_from_sdk = (
        "name",
        "description",
        "is_admin_state_up",
        "is_shared",
        "is_router_external",
        "is_port_security_enabled",
        "dns_domain",
        "availability_zone_hints",
        "is_vlan_transparent",
    )
    info_from_sdk = Resource.info_from_sdk + (
        "status",
        "mtu",
        "provider_network_type",
        "provider_physical_network",
        "provider_segmentation_id",
        "availability_zones",
        "qos_policy_id",
    )
    create_only = ("availability_zone_hints", "is_vlan_transparent")
    unordered = ("availability_zone_hints",)
    omit_defaults = {
        "is_shared": False,
        "is_router_external": False,
        "is_port_security_enabled": True,
        "is_admin_state_up": True,
        "is_vlan_transparent": False,
    }
    admin_values = {"is_shared": (True,), "is_router_external": (True,)}
    param_extensions = {
        "dns_domain": "dns-integration",
        "availability_zone_hints": "network_availability_zone",
        "is_port_security_enabled": "port-security",
        "is_vlan_transparent": "vlan-transparent",
    }
    params_schema = {
        "name": _STR,
        "description": _STR,
        "is_admin_state_up": _BOOL,
        "is_shared": _BOOL,
        "is_router_external": _BOOL,
        "is_port_security_enabled": _BOOL,
        "dns_domain": _STR,
        "availability_zone_hints": _STR_LIST,
        "is_vlan_transparent": _BOOL,
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        # Own networks plus the shared and external ones a tenant may reference (3 list requests).
        yield from conn.network.networks(project_id=project_id)
        yield from conn.network.networks(is_router_external=True)
        yield from conn.network.networks(is_shared=True)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.network.get_network(obj_id)

    @classmethod
    def _extra_info(cls, obj):
        return {"subnet_ids": sorted(obj.subnet_ids or [])}

    def value_errors(self):
        errors = _text_errors(self.params)
        errors += api_rules.dns_domain_errors("params.dns_domain", self.params.get("dns_domain"))
        for i, hint in enumerate(self.params.get("availability_zone_hints") or []):
            errors += api_rules.length_errors(f"params.availability_zone_hints[{i}]", hint, 255, blank=False)
        return errors

    bulk = True

    @classmethod
    def bulk_create_sdk(cls, conn, bodies):
        return bulk_create(conn.network, SdkNetwork, bodies)

    def _create_sdk(self, conn, body):
        return conn.network.create_network(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.network.update_network(obj, **body)


class Subnet(Resource):
    """A Neutron subnet, referencing its network by name.

    ``dns_nameservers`` keeps its order (it is the resolver order, and Neutron stores and returns
    it ordered: ``dnsnameservers.order`` column), while ``allocation_pools``, ``host_routes`` and
    ``service_types`` are compared as sets, so a different order never causes an update.
    """

    type = "openstack.network.Subnet"
    type_key = "subnets"
    ref_kind = "subnet"
    params_from_sdk = (
        "name",
        "description",
        "cidr",
        "ip_version",
        "gateway_ip",
        "is_dhcp_enabled",
        "allocation_pools",
        "dns_nameservers",
        "host_routes",
        "ipv6_address_mode",
        "ipv6_ra_mode",
        "service_types",
        "dns_publish_fixed_ip",
    )
    info_from_sdk = Resource.info_from_sdk + ("network_id", "subnet_pool_id", "segment_id")
    depends_on = ("networks",)
    ref_params = {"network": "network"}
    create_only = ("network", "cidr", "ip_version", "ipv6_address_mode", "ipv6_ra_mode")
    unordered = ("allocation_pools", "host_routes", "service_types")
    keep_none = ("gateway_ip",)
    omit_defaults = {"dns_publish_fixed_ip": False}
    param_extensions = {
        "service_types": "subnet-service-types",
        "dns_publish_fixed_ip": "subnet-dns-publish-fixed-ip",
    }
    required_params = ("name", "network", "cidr", "ip_version")
    params_schema = {
        "name": _STR,
        "description": _STR,
        "network": REF_SCHEMA,
        "cidr": _STR,
        "ip_version": {"enum": [4, 6]},
        "gateway_ip": _OPT_STR,
        "is_dhcp_enabled": _BOOL,
        "allocation_pools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "end"],
                "properties": {"start": _STR, "end": _STR},
                "additionalProperties": False,
            },
        },
        "dns_nameservers": _STR_LIST,
        "host_routes": _ROUTES,
        "ipv6_address_mode": {"enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None]},
        "ipv6_ra_mode": {"enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None]},
        "service_types": _STR_LIST,
        "dns_publish_fixed_ip": _BOOL,
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        # Own subnets plus those of external networks (router gateways); one request per external net.
        seen = set()
        for subnet in conn.network.subnets(project_id=project_id):
            seen.add(subnet.id)
            yield subnet
        for net in conn.network.networks(is_router_external=True):
            for subnet in conn.network.subnets(network_id=net.id):
                if subnet.id not in seen:
                    yield subnet

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.network.get_subnet(obj_id)

    def value_errors(self):
        return _text_errors(self.params) + api_rules.subnet_errors(self.params)

    bulk = True

    @classmethod
    def bulk_create_sdk(cls, conn, bodies):
        return bulk_create(conn.network, SdkSubnet, bodies)

    def _create_sdk(self, conn, body):
        return conn.network.create_subnet(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.network.update_subnet(obj, **body)


class Router(Resource):
    """A Neutron router with its external gateway network.

    ``routes`` (static routes) is deferred: a nexthop must sit on a subnet attached to the router,
    so routes are applied by the router interfaces phase, after the interfaces exist. The external
    gateway's fixed IPs are source facts (``_info.external_fixed_ips``): choosing them needs admin.
    """

    type = "openstack.network.Router"
    type_key = "routers"
    ref_kind = "router"
    depends_on = ("networks",)
    params_from_sdk = ("name", "description", "is_admin_state_up", "availability_zone_hints", "routes")
    info_from_sdk = Resource.info_from_sdk + (
        "status",
        "availability_zones",
        "flavor_id",
        "is_distributed",
        "is_ha",
    )
    create_only = ("availability_zone_hints",)
    unordered = ("availability_zone_hints", "routes")
    deferred = ("routes",)
    deferred_until = "router_interfaces"
    deferred_phase = "routes"
    omit_defaults = {"is_admin_state_up": True}
    param_extensions = {"availability_zone_hints": "router_availability_zone", "routes": "extraroute"}
    params_schema = {
        "name": _STR,
        "description": _STR,
        "is_admin_state_up": _BOOL,
        "availability_zone_hints": _STR_LIST,
        "routes": _ROUTES,
        "external_gateway_info": {
            "type": ["object", "null"],
            "required": ["network"],
            "properties": {"network": REF_SCHEMA, "enable_snat": _BOOL},
            "additionalProperties": False,
        },
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.network.routers(project_id=project_id)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.network.get_router(obj_id)

    @classmethod
    def _refs_from_sdk(cls, obj, refs):
        gw = obj.external_gateway_info
        if not gw or not gw.get("network_id"):
            return {}
        return {
            "external_gateway_info": {
                "network": refs.ref("network", gw["network_id"]),
                "enable_snat": gw.get("enable_snat", True),
            }
        }

    def value_errors(self):
        errors = _text_errors(self.params) + api_rules.routes_errors(
            "params.routes", self.params.get("routes")
        )
        for i, hint in enumerate(self.params.get("availability_zone_hints") or []):
            errors += api_rules.length_errors(f"params.availability_zone_hints[{i}]", hint, 255, blank=False)
        return errors

    @classmethod
    def _extra_info(cls, obj):
        gw = obj.external_gateway_info or {}
        ips = sorted(gw.get("external_fixed_ips") or [], key=lambda i: i.get("ip_address", ""))
        return {"external_fixed_ips": ips}

    def iter_refs(self):
        gw = self.params.get("external_gateway_info")
        if gw:
            yield "params.external_gateway_info.network", "network", gw.get("network")

    def _gateway_body(self, refs: RefIndex, gw: dict | None) -> dict:
        if not gw:
            return {}
        body: dict[str, Any] = {"network_id": refs.id("network", gw["network"])}
        # enable_snat may only be set by admin (policy create_router:external_gateway_info:
        # enable_snat); True is the API default, so only a False is ever sent.
        if gw.get("enable_snat") is False:
            body["enable_snat"] = False
        return body

    def create_body(self, refs):
        body = super().create_body(refs)
        gw = body.pop("external_gateway_info", None)
        if gw:
            body["external_gateway_info"] = self._gateway_body(refs, gw)
        return body

    def update_body(self, changes, refs):
        body = super().update_body(changes, refs)
        if "external_gateway_info" in changes:
            body["external_gateway_info"] = self._gateway_body(refs, changes["external_gateway_info"]["to"])
        return body

    def apply_deferred(self, conn, refs, changes):
        router = refs.find("router", make_ref(self.name))
        return conn.network.update_router(router, routes=changes["routes"]["to"] or [])

    def _create_sdk(self, conn, body):
        return conn.network.create_router(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.network.update_router(obj, **body)


class RouterInterface(Resource):
    """One router interface: a router attached to a subnet with a fixed IP.

    Import attaches by subnet when the IP is the subnet's gateway (Neutron then uses the gateway
    IP), else it pre-creates a port with that fixed IP and attaches the port. The IP of an existing
    interface cannot change (a conflict is reported).
    """

    type = "openstack.network.RouterInterface"
    type_key = "router_interfaces"
    depends_on = ("routers", "subnets")
    parent = ("routers", "router")
    info_from_sdk = ()
    ref_params = {"router": "router", "subnet": "subnet"}
    params_from_sdk = ()
    create_only = ("router", "subnet", "ip_address")
    required_params = ("router", "subnet", "ip_address")
    params_schema = {"router": REF_SCHEMA, "subnet": REF_SCHEMA, "ip_address": _STR}

    @property
    def identity(self):
        p = self.params
        return f"{(p.get('router') or {}).get('name')}/{(p.get('subnet') or {}).get('name')}"

    def value_errors(self):
        return api_rules.ip_errors("params.ip_address", self.params.get("ip_address"))

    @classmethod
    def export(cls, conn, refs):
        out = []
        for owner in ROUTER_INTERFACE_OWNERS:
            for port in conn.network.ports(device_owner=owner, project_id=refs.project_id):
                for fip in port.fixed_ips or []:
                    record = {
                        "type": cls.type,
                        "params": {
                            "router": refs.ref("router", port.device_id),
                            "subnet": refs.ref("subnet", fip["subnet_id"]),
                            "ip_address": fip["ip_address"],
                        },
                        "_info": {
                            "id": f"{port.id}/{fip['subnet_id']}",
                            "port_id": port.id,
                            "router_id": port.device_id,
                            "subnet_id": fip["subnet_id"],
                            "network_id": port.network_id,
                            "device_owner": port.device_owner,
                        },
                        "_migration_params": {},
                    }
                    out.append(cls(record, sdk=port))
        return sorted(out, key=lambda r: r.identity)

    def serial_key(self):
        # Neutron serializes the interface changes of one router (and a concurrent one may fail on
        # its port): the interfaces of a router are added one at a time, routers side by side.
        return f"router:{(self.params.get('router') or {}).get('name')}"

    #: the port made for this interface by :meth:`prepare_creates`, if any.
    _port: Any = None

    def _port_body(self, refs: RefIndex) -> dict | None:
        """Create kwargs of the port to attach, None when the interface takes the gateway IP."""
        subnet = refs.find("subnet", self.params["subnet"])
        ip = self.params["ip_address"]
        if ip == subnet.gateway_ip:
            return None
        return {"network_id": subnet.network_id, "fixed_ips": [{"subnet_id": subnet.id, "ip_address": ip}]}

    @classmethod
    def prepare_creates(cls, conn, refs, resources, bulk_size):
        """Create the ports of the interfaces that are not on their subnet's gateway IP in bulk
        requests (up to ``bulk_size`` each); when Neutron refuses one (4xx), those interfaces
        make their own port in :meth:`create`, so an error names its interface."""
        wanted = []
        for i, res in enumerate(resources):
            try:
                body = res._port_body(refs)
            except (sdk_exc.SDKException, OsMigrateError):
                continue  # create() reports it
            if body is not None:
                wanted.append((i, res, body))
        errors: dict[int, Exception] = {}
        if len(wanted) < 2:
            return errors
        for start in range(0, len(wanted), bulk_size):
            chunk = wanted[start : start + bulk_size]
            try:
                ports = bulk_create(conn.network, SdkPort, [body for _, _, body in chunk])
            except (sdk_exc.SDKException, ksa_exc.ClientException) as e:
                status = getattr(e, "status_code", None)
                if status is not None and 400 <= status < 500:
                    LOG.info("router interface ports: bulk create refused (%s); one request each", e)
                    continue
                errors.update({i: e for i, _, _ in chunk})
                continue
            for (_, res, _), port in zip(chunk, ports):
                res._port = port
        return errors

    def create(self, conn, refs, *, source=None):
        router_id = refs.id("router", self.params["router"])
        port, self._port = self._port, None
        if port is None:
            body = self._port_body(refs)
            if body is None:
                subnet_id = refs.id("subnet", self.params["subnet"])
                return conn.network.add_interface_to_router(router_id, subnet=subnet_id)
            port = conn.network.create_port(**body)
        try:
            return conn.network.add_interface_to_router(router_id, port=port.id)
        except sdk_exc.SDKException:
            conn.network.delete_port(port, ignore_missing=True)
            raise

    def update(self, conn, existing, changes, refs, *, source=None):
        raise ConflictError(f"{self.describe()}: cannot change {', '.join(changes)} of an interface")


class SecurityGroup(Resource):
    """A Neutron security group.

    Neutron adds default egress rules to every group it creates; a group created by this run has
    them removed at once, so it ends with exactly the source's rules (imported as
    ``security_group_rules``). Rules of groups that already existed are never removed.
    """

    type = "openstack.network.SecurityGroup"
    type_key = "security_groups"
    ref_kind = "security_group"
    params_from_sdk = ("name", "description", "stateful")
    omit_defaults = {"stateful": True}
    param_extensions = {"stateful": "stateful-security-group"}
    params_schema = {"name": _STR, "description": _STR, "stateful": _BOOL}

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.network.security_groups(project_id=project_id)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.network.get_security_group(obj_id)

    def value_errors(self):
        return _text_errors(self.params)

    bulk = True

    @classmethod
    def bulk_create_sdk(cls, conn, bodies):
        return bulk_create(conn.network, SdkSecurityGroup, bodies)

    def _create_sdk(self, conn, body):
        return conn.network.create_security_group(**body)

    def created(self, conn, refs, obj):
        """Drop the rules Neutron added to the new group (``obj``), then record it."""
        for rule in obj.security_group_rules or []:
            conn.network.delete_security_group_rule(rule["id"], ignore_missing=True)
        obj.security_group_rules = []
        return super().created(conn, refs, obj)

    def _update_sdk(self, conn, obj, body):
        return conn.network.update_security_group(obj, **body)


def _cidr(address: str) -> str:
    """An address as Neutron stores it in an address group (``10.0.0.5/24`` -> ``10.0.0.0/24``,
    ``10.0.0.1`` -> ``10.0.0.1/32``); an invalid one is returned unchanged (Neutron refuses it)."""
    try:
        return str(ipaddress.ip_network(address, strict=False))
    except ValueError:
        return address


class AddressGroup(Resource):
    """A Neutron address group: a named set of CIDRs that security group rules use as remote.

    The addresses are the group's meaning: a rule whose remote is the group allows exactly them.
    A group created by the import carries exactly the source's addresses; an update removes the
    extra addresses first and then adds the missing ones, so a rule using the group never allows
    more than the source at any moment.
    """

    type = "openstack.network.AddressGroup"
    type_key = "address_groups"
    ref_kind = "address_group"
    params_from_sdk = ("name", "description", "addresses")
    unordered = ("addresses",)
    # Every address group needs the extension; "name" is always set, so it carries the check.
    param_extensions = {"name": "address-group"}
    params_schema = {"name": _STR, "description": _STR, "addresses": _STR_LIST}

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        # Own groups and those shared with the project through RBAC (one list request).
        return conn.network.address_groups()

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.network.get_address_group(obj_id)

    @classmethod
    def normalize_params(cls, params: Mapping[str, Any]) -> dict:
        params = dict(params)
        if isinstance(params.get("addresses"), list):
            params["addresses"] = sorted({_cidr(a) for a in params["addresses"]})
        return super().normalize_params(params)

    def value_errors(self):
        errors = _text_errors(self.params)
        for i, address in enumerate(self.params.get("addresses") or []):
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                errors.append(f"params.addresses[{i}]: {address!r} is not an IP address or CIDR")
        return errors

    def _create_sdk(self, conn, body):
        return conn.network.create_address_group(**body)

    def update(self, conn, existing, changes, refs, *, source=None):
        """Update name/description, then the addresses: remove extra ones first, then add."""
        obj = existing.sdk
        body = self.update_body({k: v for k, v in changes.items() if k != "addresses"}, refs)
        if body:
            obj = conn.network.update_address_group(obj, **body)
        if "addresses" in changes:
            want = set(changes["addresses"]["to"] or [])
            have = set(changes["addresses"]["from"] or [])
            if have - want:
                obj = conn.network.remove_addresses_from_address_group(obj, sorted(have - want))
            if want - have:
                obj = conn.network.add_addresses_to_address_group(obj, sorted(want - have))
        return obj


class SecurityGroupRule(Resource):
    """A Neutron security group rule; rules are immutable, so they are created or left alone.

    The remote is a CIDR, a security group (``remote_group``) or an address group
    (``remote_address_group``). An address group must be in the data set (``address_groups.yml``),
    never just a same-named group in the destination, whose addresses may be wider; validation
    refuses a rule whose remote cannot be resolved that way.
    """

    type = "openstack.network.SecurityGroupRule"
    type_key = "security_group_rules"
    depends_on = ("security_groups", "address_groups")
    parent = ("security_groups", "security_group")
    params_from_sdk = (
        "direction",
        "ether_type",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "description",
    )
    info_from_sdk = (
        "id",
        "project_id",
        "security_group_id",
        "remote_group_id",
        "remote_address_group_id",
        "created_at",
        "updated_at",
        "revision_number",
    )
    ref_params = {
        "security_group": "security_group",
        "remote_group": "security_group",
        "remote_address_group": "address_group",
    }
    data_refs = ("remote_address_group",)
    param_extensions = {"remote_address_group": "security-groups-remote-address-group"}
    create_only = (
        "security_group",
        "remote_group",
        "direction",
        "ether_type",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_address_group",
    )
    required_params = ("security_group", "direction", "ether_type")
    params_schema = {
        "security_group": REF_SCHEMA,
        "remote_group": REF_SCHEMA,
        "direction": {"enum": ["ingress", "egress"]},
        "ether_type": {"enum": ["IPv4", "IPv6"]},
        "protocol": {"type": ["string", "null"]},
        "port_range_min": _PORT,
        "port_range_max": _PORT,
        "remote_ip_prefix": _OPT_STR,
        "remote_address_group": REF_SCHEMA,
        "description": _STR,
    }

    @property
    def identity(self):
        p = self.params
        sg = (p.get("security_group") or {}).get("name")
        remote = p.get("remote_ip_prefix") or ""
        if p.get("remote_group"):
            remote = f"group={p['remote_group'].get('name')}"
        if p.get("remote_address_group"):
            remote = f"address_group={p['remote_address_group'].get('name')}"
        ports = ""
        if p.get("port_range_min") is not None or p.get("port_range_max") is not None:
            ports = f"{p.get('port_range_min')}-{p.get('port_range_max')}"
        return ":".join(
            str(x)
            for x in (
                sg,
                p.get("direction"),
                p.get("ether_type"),
                p.get("protocol") or "any",
                ports or "any",
                remote or "any",
            )
        )

    @classmethod
    def list_sdk(cls, conn, refs):
        return conn.network.security_group_rules(project_id=refs.project_id)

    def value_errors(self):
        return _text_errors(self.params) + api_rules.rule_errors(self.params)

    def diff(self, existing, *, only=None):
        # Everything but the description is part of the identity; rules cannot be updated.
        return {}

    bulk = True

    @classmethod
    def bulk_create_sdk(cls, conn, bodies):
        # One existing rule makes Neutron refuse the whole list (409); import then retries the
        # rules one by one, and _create_sdk below takes the 409 as "exists".
        return bulk_create(conn.network, SdkSecurityGroupRule, bodies)

    def bulk_key(self):
        # Neutron takes the rules of one group per bulk request (SecurityGroupNotSingleGroupRules).
        return (self.params.get("security_group") or {}).get("name")

    def _create_sdk(self, conn, body: dict[str, Any]):
        try:
            return conn.network.create_security_group_rule(**body)
        except sdk_exc.ConflictException:
            # Neutron says the same rule exists (it normalizes e.g. protocol numbers/names).
            LOG.info("%s already exists in the destination", self.describe())
            return None
