"""Workload records: a server with its ports, floating IPs and volumes; a detached volume.

Same shape as every other record (``{type, params, _info, _migration_params}``), kept in
``workloads.yml`` and ``detached_volumes.yml`` of the data dir. A server record::

    type: openstack.compute.Server
    params:
      name: web-1
      flavor: {name: m1.small}                       # flavors are global: name only (the source's)
      image: {name: cirros, project_name: null, ...}   # null for a server booted from volume
      key_name: deploy
      security_groups: [{name: web, project_name: '%auth%', domain_name: '%auth%'}]
      metadata: {...}
      tags: [...]
      availability_zone: nova
      user_data: null                                  # base64; only an admin can read it
      config_drive: false
      description: null
      scheduler_hints: {}                              # id-valued hints go to _info
      server_group: {name: db-anti, project_name: '%auth%', ...}   # null when in none
      ports:                                           # NIC order
      - network: {name: app-net, ...}
        fixed_ips: [{subnet: {name: app-subnet, ...}, ip_address: 10.0.0.5}]
        mac_address: fa:16:3e:..
        allowed_address_pairs: [{ip_address: 10.0.0.100, mac_address: fa:16:3e:..}]
        security_groups: [{name: web, ...}]
        name: '', description: '', is_port_security_enabled: true
      floating_ips:
      - {floating_ip_address: 172.24.4.10, floating_network: {name: public, ...},
         fixed_ip_address: 10.0.0.5, description: ''}
      volumes:                                         # boot volume first, then by device
      - {name: web-1-root, size: 10, volume_type: fast, is_bootable: true, boot_index: 0,
         device: /dev/sda, description: '', metadata: {},
         volume_image_metadata: {hw_firmware_type: uefi, ...}}
    _info:
      id: <source server id>
      status: ACTIVE
      ports: [{id, mac_address, network_id}]
      volumes: [{id, device, status}]                  # matched to params.volumes by device
      floating_ips: [{id, floating_ip_address}]
      boot_index_source: root_device_name | bootable_volume | first_attachment | image
    _migration_params: {see MIGRATION_PARAM_DEFAULTS}

Edit ``params`` (e.g. a volume's ``volume_type``) or ``_migration_params`` before migrating;
a re-export refreshes ``params`` and ``_info`` but keeps edited ``_migration_params``.

The destination flavor of a server (:attr:`Server.flavor_name`) is, first match wins:
``_migration_params.flavor_name`` (this server; also settable for a whole run through the
run's ``_migration_params`` overrides), the run's ``flavor_map`` (source flavor name ->
destination flavor name, :meth:`Server.with_flavor_map`), else the source flavor's own name.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from os_migrate import api_rules
from os_migrate.const import DATA_FILE_SUFFIX
from os_migrate.exceptions import ValidationError
from os_migrate.resources.base import REF_SCHEMA, Resource
from os_migrate.workload.disk_copy import COPIERS

#: Data file stem of servers.
WORKLOADS = "workloads"
#: Data file stem of volumes attached to nothing.
DETACHED_VOLUMES = "detached_volumes"

#: Port creation modes: ``nova`` lets Nova create one port per NIC with the first fixed IP;
#: ``neutron`` pre-creates ports with every fixed IP, the MAC and the allowed address pairs.
PORT_CREATION_MODES = ("nova", "neutron")
#: Floating IP modes: ``existing`` attaches a pre-allocated address equal to the source's (and
#: fails without it), ``new`` allocates a new address, ``auto`` uses the pre-allocated address
#: when the project has it and allocates a new one otherwise, ``skip`` attaches none.
FLOATING_IP_MODES = ("auto", "new", "existing", "skip")
#: Disk copy methods: the copiers registered in :data:`os_migrate.workload.disk_copy.COPIERS`.
COPY_METHODS = tuple(COPIERS)

#: Default ``_migration_params`` of a server.
MIGRATION_PARAM_DEFAULTS: dict[str, Any] = {
    "boot_disk_copy": False,
    "data_copy": True,
    "port_creation_mode": "neutron",
    "floating_ip_mode": "auto",
    "boot_volume_params": {},
    "stop_before_migration": True,
    "restart_source_after": False,
    "copy_method": "image",
    "volume_type_map": {},
    "flavor_name": None,
}

#: JSON schema of a flavor map: source flavor name -> destination flavor name (the DAG's
#: ``flavor_map`` Param, the ``flavor_map`` argument of the workload functions).
FLAVOR_MAP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"minLength": 1},
    "additionalProperties": {"type": "string", "minLength": 1},
}

#: JSON schema of ``_migration_params`` (also the DAG's ``migration_params`` override Param).
MIGRATION_PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "boot_disk_copy": {"type": "boolean"},
        "data_copy": {"type": "boolean"},
        "port_creation_mode": {"enum": list(PORT_CREATION_MODES)},
        "floating_ip_mode": {"enum": list(FLOATING_IP_MODES)},
        "boot_volume_params": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "size": {"type": "integer", "minimum": 1},
                "volume_type": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "stop_before_migration": {"type": "boolean"},
        "restart_source_after": {"type": "boolean"},
        "copy_method": {"enum": list(COPY_METHODS)},
        "copy_settings": {"type": "object"},
        "volume_type_map": {"type": "object", "additionalProperties": {"type": "string"}},
        "flavor_name": {"type": ["string", "null"], "minLength": 1},
    },
    "additionalProperties": False,
}


def check_flavor_map(flavor_map: Mapping[str, Any] | None) -> dict[str, str]:
    """A run-level flavor map as a plain dict, after checking it maps names to names.

    :param flavor_map: source flavor name -> destination flavor name; None is an empty map.
    :raises ValidationError: not a mapping, or a key or value that is not a non-empty string
        (each problem named ``flavor_map[<key>]``).
    """
    if flavor_map is None:
        return {}
    if not isinstance(flavor_map, Mapping):
        raise ValidationError([f"flavor_map: must be a mapping of flavor names, got {flavor_map!r}"])
    errors = [
        f"flavor_map[{k!r}]: source and destination flavor names must be non-empty strings, got {v!r}"
        for k, v in flavor_map.items()
        if not (isinstance(k, str) and k and isinstance(v, str) and v)
    ]
    if errors:
        raise ValidationError(errors)
    return dict(flavor_map)


_FIXED_IP_SCHEMA = {
    "type": "object",
    "required": ["subnet", "ip_address"],
    "properties": {"subnet": REF_SCHEMA, "ip_address": {"type": "string"}},
    "additionalProperties": False,
}
_PORT_SCHEMA = {
    "type": "object",
    "required": ["network"],
    "properties": {
        "name": {"type": ["string", "null"]},
        "description": {"type": ["string", "null"]},
        "network": REF_SCHEMA,
        "fixed_ips": {"type": "array", "items": _FIXED_IP_SCHEMA},
        "mac_address": {"type": ["string", "null"]},
        "allowed_address_pairs": {"type": "array", "items": {"type": "object"}},
        "security_groups": {"type": "array", "items": REF_SCHEMA},
        "is_port_security_enabled": {"type": ["boolean", "null"]},
    },
    "additionalProperties": False,
}
_FLOATING_IP_SCHEMA = {
    "type": "object",
    "required": ["floating_ip_address", "floating_network", "fixed_ip_address"],
    "properties": {
        "floating_ip_address": {"type": "string"},
        "floating_network": REF_SCHEMA,
        "fixed_ip_address": {"type": "string"},
        "description": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
_VOLUME_PARAMS_SCHEMA = {
    "name": {"type": ["string", "null"]},
    "description": {"type": ["string", "null"]},
    "size": {"type": "integer", "minimum": 1},
    "volume_type": {"type": ["string", "null"]},
    "is_bootable": {"type": "boolean"},
    "metadata": {"type": "object"},
    "volume_image_metadata": {"type": "object"},
}
_ATTACHED_VOLUME_SCHEMA = {
    "type": "object",
    "required": ["size", "device"],
    "properties": {
        **_VOLUME_PARAMS_SCHEMA,
        "boot_index": {"type": ["integer", "null"]},
        "device": {"type": "string"},
    },
    "additionalProperties": False,
}


class Server(Resource):
    """A Nova server with its ports, floating IPs and attached volumes (see module docstring)."""

    type = "openstack.compute.Server"
    type_key = WORKLOADS
    #: The run-level flavor map (see :meth:`with_flavor_map`); empty unless given.
    flavor_map: Mapping[str, str] = MappingProxyType({})
    migration_param_defaults = MIGRATION_PARAM_DEFAULTS
    required_params = ("name", "flavor")
    params_schema = {
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "flavor": REF_SCHEMA,
        "image": {"oneOf": [{"type": "null"}, REF_SCHEMA]},
        "key_name": {"type": ["string", "null"]},
        "security_groups": {"type": "array", "items": REF_SCHEMA},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "availability_zone": {"type": ["string", "null"]},
        "user_data": {"type": ["string", "null"]},
        "config_drive": {"type": ["boolean", "null"]},
        "scheduler_hints": {"type": "object"},
        "server_group": {"oneOf": [{"type": "null"}, REF_SCHEMA]},
        "ports": {"type": "array", "items": _PORT_SCHEMA},
        "floating_ips": {"type": "array", "items": _FLOATING_IP_SCHEMA},
        "volumes": {"type": "array", "items": _ATTACHED_VOLUME_SCHEMA},
    }

    @classmethod
    def json_schema(cls) -> dict:
        """Record schema, with ``_migration_params`` checked too."""
        schema = copy.deepcopy(super().json_schema())
        schema["properties"]["_migration_params"] = {**MIGRATION_PARAMS_SCHEMA, "type": ["object", "null"]}
        return schema

    def value_errors(self):
        """What Nova, Neutron and Cinder would refuse in this record (:mod:`os_migrate.api_rules`)."""
        p = self.params
        errors = api_rules.nova_name_errors("params.name", p.get("name"))
        errors += api_rules.metadata_errors("params.metadata", p.get("metadata"))
        errors += api_rules.server_tag_errors("params.tags", p.get("tags"))
        errors += api_rules.user_data_errors("params.user_data", p.get("user_data"))
        fixed: set[str] = set()
        macs: dict[str, int] = {}
        for i, port in enumerate(p.get("ports") or []):
            where = f"params.ports[{i}]"
            for f in ("name", "description"):
                errors += api_rules.length_errors(f"{where}.{f}", port.get(f), api_rules.NEUTRON_NAME_MAX)
            errors += api_rules.mac_errors(f"{where}.mac_address", port.get("mac_address"))
            mac = (port.get("mac_address") or "").lower()
            if mac and mac in macs:
                errors.append(f"{where}.mac_address: {mac} is also the MAC of params.ports[{macs[mac]}]")
            macs.setdefault(mac, i)
            for j, fip in enumerate(port.get("fixed_ips") or []):
                errs = api_rules.ip_errors(f"{where}.fixed_ips[{j}].ip_address", fip.get("ip_address"))
                errors += errs
                if not errs:
                    fixed.add(str(ipaddress.ip_address(fip["ip_address"])))
            for j, pair in enumerate(port.get("allowed_address_pairs") or []):
                pw = f"{where}.allowed_address_pairs[{j}]"
                if "ip_address" not in pair:
                    errors.append(f"{pw}.ip_address: is required")
                errors += api_rules.ip_or_cidr_errors(f"{pw}.ip_address", pair.get("ip_address"))
                errors += api_rules.mac_errors(f"{pw}.mac_address", pair.get("mac_address"))
                errors += [f"{pw}.{k}: unknown field" for k in pair if k not in ("ip_address", "mac_address")]
        for i, fip in enumerate(p.get("floating_ips") or []):
            where = f"params.floating_ips[{i}]"
            errors += api_rules.ip_errors(f"{where}.floating_ip_address", fip.get("floating_ip_address"), 4)
            errs = api_rules.ip_errors(f"{where}.fixed_ip_address", fip.get("fixed_ip_address"))
            errors += errs
            if not errs and str(ipaddress.ip_address(fip["fixed_ip_address"])) not in fixed:
                errors.append(
                    f"{where}.fixed_ip_address: {fip['fixed_ip_address']} is not a fixed IP of the server's ports"
                )
            errors += api_rules.length_errors(f"{where}.description", fip.get("description"), 255)
        for i, vol in enumerate(p.get("volumes") or []):
            errors += volume_errors(f"params.volumes[{i}]", vol)
        return errors

    # -- convenient views ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``params.name`` (required by the schema; ``""`` only in a record that failed it)."""
        return str(self.params.get("name") or "")

    @property
    def source_id(self) -> str:
        """``_info.id``, the source server id (``""`` when a hand-written record lacks it)."""
        return str(self.info.get("id") or "")

    @property
    def source_flavor_name(self) -> str:
        """``params.flavor.name``, the source flavor's name."""
        return str((self.params.get("flavor") or {}).get("name") or "")

    @property
    def flavor_name(self) -> str:
        """Name of the destination flavor (see module docstring for the order of precedence)."""
        return str(self.migration_params.get("flavor_name") or "") or self.flavor_map.get(
            self.source_flavor_name, self.source_flavor_name
        )

    @property
    def flavor_field(self) -> str:
        """Where :attr:`flavor_name` comes from, as a field name for messages:
        ``_migration_params.flavor_name``, ``flavor_map['<source name>']`` or ``params.flavor``."""
        if self.migration_params.get("flavor_name"):
            return "_migration_params.flavor_name"
        if self.source_flavor_name in self.flavor_map:
            return f"flavor_map[{self.source_flavor_name!r}]"
        return "params.flavor"

    @property
    def ports(self) -> list[dict]:
        """``params.ports`` in NIC order."""
        return list(self.params.get("ports") or [])

    @property
    def volumes(self) -> list[dict]:
        """``params.volumes`` (boot volume first)."""
        return list(self.params.get("volumes") or [])

    @property
    def floating_ips(self) -> list[dict]:
        """``params.floating_ips``."""
        return list(self.params.get("floating_ips") or [])

    def boot_volume(self) -> dict | None:
        """The volume with ``boot_index`` 0 (the root of a server booted from volume), or None.

        The root is found by boot index, never by device name (it may be ``/dev/sda``,
        ``/dev/vda``, ``/dev/xvda``...).
        """
        roots = [v for v in self.volumes if v.get("boot_index") == 0]
        return roots[0] if roots else None

    def data_volumes(self) -> list[dict]:
        """Volumes other than the boot volume, in ``params`` order."""
        return [v for v in self.volumes if v.get("boot_index") != 0]

    def is_volume_backed(self) -> bool:
        """True if the server boots from a volume (it has a volume with boot index 0)."""
        return self.boot_volume() is not None

    def source_volume_id(self, volume: Mapping[str, Any]) -> str:
        """Source id of one of :attr:`volumes`, matched by device in ``_info.volumes``.

        :raises KeyError: ``_info`` has no volume on that device (record edited by hand).
        """
        for info in self.info.get("volumes") or []:
            if info.get("device") == volume.get("device"):
                return info["id"]
        raise KeyError(f"{self.describe()}: _info.volumes has no volume on device {volume.get('device')!r}")

    def source_port_id(self, port: Mapping[str, Any]) -> str | None:
        """Source id of one of :attr:`ports`, matched by MAC address in ``_info.ports``."""
        for info in self.info.get("ports") or []:
            if info.get("mac_address") == port.get("mac_address"):
                return info.get("id")
        return None

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Server:
        """A copy whose ``_migration_params`` are updated with ``overrides`` (run-level knobs)."""
        if not overrides:
            return self
        record = copy.deepcopy(self.record)
        record["_migration_params"] = {**(record.get("_migration_params") or {}), **overrides}
        out = Server(record)
        out.file, out.index = self.file, self.index
        out.flavor_map = self.flavor_map
        return out

    def with_flavor_map(self, flavor_map: Mapping[str, str] | None) -> Server:
        """A copy that takes its destination flavor from ``flavor_map`` (source name ->
        destination name) unless its own ``_migration_params.flavor_name`` is set."""
        if not flavor_map:
            return self
        out = Server(copy.deepcopy(self.record))
        out.file, out.index = self.file, self.index
        out.flavor_map = MappingProxyType(dict(flavor_map))
        return out


class DetachedVolume(Resource):
    """A Cinder volume attached to nothing (migrated on its own, not with a server)."""

    type = "openstack.block_storage.Volume"
    type_key = DETACHED_VOLUMES
    migration_param_defaults = {"data_copy": True, "copy_method": "image", "volume_type_map": {}}
    required_params = ("size",)
    params_schema = dict(_VOLUME_PARAMS_SCHEMA)

    @property
    def identity(self) -> str:
        return self.name or self.source_id or ""

    def value_errors(self):
        return volume_errors("params", self.params)


def volume_errors(field: str, volume: Mapping[str, Any]) -> list[str]:
    """Cinder's limits on a volume's name, description and metadata."""
    errors = []
    for f in ("name", "description"):
        errors += api_rules.length_errors(f"{field}.{f}", volume.get(f), api_rules.CINDER_STR_MAX)
    errors += api_rules.metadata_errors(f"{field}.metadata", volume.get("metadata"), api_rules.CINDER_STR_MAX)
    return errors


def workload_file(data_dir: str | Path, stem: str = WORKLOADS) -> Path:
    """``<data_dir>/workloads.yml`` (or ``detached_volumes.yml`` with ``stem``)."""
    return Path(data_dir) / f"{stem}{DATA_FILE_SUFFIX}"


def state_dir(data_dir: str | Path) -> Path:
    """Folder of the per-server migration state files (``<data_dir>/workload_state``)."""
    return Path(data_dir) / "workload_state"
