"""Conversion of a data dir written by OS Migrate 1.x (the Ansible collection) into ours.

OS Migrate writes one YAML file per type, ``{os_migrate_version: "1.0.5", resources: [...]}``, with
records ``{type, params, _info, _migration_params}`` like ours, but:

- type strings differ in places (``openstack.subnet.Subnet``);
- references are ``<what>_ref`` params (``network_ref``, ``security_group_ref``, ``device_ref``,
  ``fixed_ips_refs[].subnet_ref``, a router's ``external_gateway_refinfo.network_ref``), named with
  the real project and domain, where we write ``%auth%`` for the tenant's own project; older
  releases used ``*_name`` params (``network_name``, ``external_gateway_nameinfo``);
- underlay facts (``mtu``, ``provider_*``) and image hashes sit in ``params``; router routes in
  ``_info``; image properties are flat openstacksdk attributes;
- a router interface is one port with all its fixed IPs (ours: one record per fixed IP).

:func:`convert_osm_dir` maps what has a meaning here and reports the rest: ``dropped`` lists
params with a value that this tool does not carry (``tags``, ``is_ha``, a QoS policy...) and
records of types it does not convert (servers, flavors, identity); ``errors`` lists records that
cannot be converted (no type, missing name, unreadable reference), each naming file, resource and
field. Any error stops the conversion before anything is written.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from os_migrate.const import AUTH_PROJECT, VERSION_KEY
from os_migrate.dataset import data_file
from os_migrate.exceptions import ValidationError
from os_migrate.export import refresh_data_file
from os_migrate.references import make_ref
from os_migrate.resources import REGISTRY, RESOURCE_TYPES, Resource
from os_migrate.resources.base import is_empty

LOG = logging.getLogger(__name__)

#: OS Migrate ``type`` string -> our type key, for the types that convert.
OSM_TYPES = {
    "openstack.network.Network": "networks",
    "openstack.subnet.Subnet": "subnets",
    "openstack.network.Subnet": "subnets",
    "openstack.network.Router": "routers",
    "openstack.network.RouterInterface": "router_interfaces",
    "openstack.network.SecurityGroup": "security_groups",
    "openstack.network.SecurityGroupRule": "security_group_rules",
    "openstack.image.Image": "images",
    "openstack.compute.Keypair": "keypairs",
}

#: Params copied unchanged, per type key: OS Migrate's params use openstacksdk's attribute names,
#: as ours do, so they are the class's ``params_from_sdk``.
_SAME = {key: REGISTRY[key].params_from_sdk for key in set(OSM_TYPES.values())}

#: Params moved to ``_info`` (source facts here), per type key.
_TO_INFO = {
    "networks": ("mtu", "provider_network_type", "provider_physical_network", "provider_segmentation_id"),
    "images": ("hash_algo", "hash_value", "checksum", "size", "virtual_size"),
}

#: ``<param>_ref`` (or older ``<param>_name``) -> our reference param, per type key.
_REFS = {
    "subnets": {"network_ref": "network", "network_name": "network"},
    "security_group_rules": {
        "security_group_ref": "security_group",
        "security_group_name": "security_group",
        "remote_group_ref": "remote_group",
        "remote_group_name": "remote_group",
    },
    "images": {"kernel_ref": "kernel", "ramdisk_ref": "ramdisk"},
}

#: Params consumed by the converters themselves (never reported as dropped).
_HANDLED = {
    "routers": ("external_gateway_refinfo", "external_gateway_nameinfo", "external_gateway_info"),
    "router_interfaces": (
        "device_ref",
        "device_name",
        "fixed_ips_refs",
        "fixed_ips_names",
        "network_ref",
        "network_name",
        "device_owner",
    ),
    "images": ("properties",),
    "keypairs": ("user_ref",),
}

#: OS Migrate's versions look like ``1.0.5`` (strings); ours is an integer.
_OSM_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?")


class _Ctx:
    """State of one conversion: the source project whose references become ``%auth%``."""

    def __init__(self, src_project: str | None, src_domain: str | None):
        self.src_project = src_project
        self.src_domain = src_domain

    def ref(self, value: Any) -> dict | None:
        """Our reference from an OS Migrate ``*_ref`` mapping or a bare ``*_name`` string."""
        if value is None:
            return None
        if isinstance(value, str):
            return make_ref(value, None, None)
        if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
            raise ValueError(f"expected a reference {{name, project_name, domain_name}}, got {value!r}")
        project, domain = value.get("project_name"), value.get("domain_name")
        if project == AUTH_PROJECT or (
            self.src_project is not None
            and project == self.src_project
            and (domain is None or self.src_domain is None or domain == self.src_domain)
        ):
            project, domain = AUTH_PROJECT, AUTH_PROJECT
        return make_ref(value["name"], project, domain)


def _image_property_names() -> dict[str, str]:
    """openstacksdk Image attribute -> Glance property name (``has_auto_disk_config`` ->
    ``auto_disk_config``), for the flat attributes OS Migrate writes in image params."""
    from openstack.image.v2.image import Image as SdkImage

    out = {}
    for attr in dir(SdkImage):
        field = getattr(SdkImage, attr, None)
        # openstacksdk's Body descriptors (openstack.fields.Body) carry the server-side name.
        name = getattr(field, "name", None)
        if type(field).__name__ == "Body" and isinstance(name, str):
            out[attr] = name
    return out


def _base(type_key: str, rec: Mapping, dropped: list[str], where: str) -> tuple[dict, dict, set[str]]:
    """``(params, _info, consumed param names)`` with the same-named params and the info moves."""
    src = rec.get("params") or {}
    params = {k: src[k] for k in _SAME.get(type_key, ()) if k in src and src[k] is not None}
    info = {k: v for k, v in (rec.get("_info") or {}).items() if not is_empty(v)}
    for k in _TO_INFO.get(type_key, ()):
        if not is_empty(src.get(k)):
            info[k] = src[k]
    used = set(_SAME.get(type_key, ())) | set(_TO_INFO.get(type_key, ())) | set(_HANDLED.get(type_key, ()))
    used |= set(_REFS.get(type_key, {}))
    return params, info, used


def _report_unused(src: Mapping, used: set[str], where: str, dropped: list[str]) -> None:
    for k in sorted(set(src) - used):
        v = src[k]
        if is_empty(v) or v is False:
            continue
        dropped.append(f"{where}: params.{k}: {v!r} is not carried by this tool (dropped)")


def _convert_generic(ctx: _Ctx, type_key: str, rec: Mapping, where: str, dropped: list[str]) -> list[dict]:
    src = rec.get("params") or {}
    params, info, used = _base(type_key, rec, dropped, where)
    for osm_key, ours in _REFS.get(type_key, {}).items():
        if src.get(osm_key) is not None:
            try:
                params[ours] = ctx.ref(src[osm_key])
            except ValueError as e:
                raise _FieldError(f"params.{osm_key}", str(e)) from e
    if type_key == "routers":
        _router_gateway(ctx, src, params, info)
        if "routes" not in params and (rec.get("_info") or {}).get("routes"):
            params["routes"] = rec["_info"]["routes"]
            info.pop("routes", None)
    if type_key == "security_group_rules" and info.get("remote_address_group_id"):
        # OS Migrate records only the address group's id: keep it as an unnamed reference, which
        # validation refuses until it is named (with address_groups.yml), so the rule's remote
        # never silently becomes "any".
        params["remote_address_group"] = {
            "name": None,
            "project_name": None,
            "domain_name": None,
            "id": info["remote_address_group_id"],
        }
        dropped.append(
            f"{where}: _info.remote_address_group_id: address group {info['remote_address_group_id']} "
            "has no name in OS Migrate data; name it in params.remote_address_group (and add it to "
            "address_groups.yml) or validation refuses the rule"
        )
    if type_key == "images":
        _image_properties(src, params, used)
    if type_key == "keypairs":
        user = src.get("user_ref")
        if isinstance(user, Mapping) and user.get("name") not in (None, AUTH_PROJECT):
            params["user"] = {"name": user["name"], "domain_name": user.get("domain_name")}
    _report_unused(src, used, where, dropped)
    for k, v in sorted((rec.get("_migration_params") or {}).items()):
        if not is_empty(v):
            dropped.append(f"{where}: _migration_params.{k}: {v!r} is not an option of this tool (dropped)")
    cls = REGISTRY[type_key]
    return [
        {
            "type": cls.type,
            "params": cls.normalize_params(params),
            "_info": info,
            "_migration_params": dict(cls.migration_param_defaults),
        }
    ]


def _router_gateway(ctx: _Ctx, src: Mapping, params: dict, info: dict) -> None:
    gw = src.get("external_gateway_refinfo") or src.get("external_gateway_nameinfo")
    if gw is None and isinstance(src.get("external_gateway_info"), Mapping):
        gw = src["external_gateway_info"]
    if not gw:
        return
    net = gw.get("network_ref") or gw.get("network_name")
    if net is None:
        raise _FieldError("params.external_gateway_refinfo.network_ref", "the gateway names no network")
    try:
        out = {"network": ctx.ref(net)}
    except ValueError as e:
        raise _FieldError("params.external_gateway_refinfo.network_ref", str(e)) from e
    if gw.get("enable_snat") is not None:
        out["enable_snat"] = gw["enable_snat"]
    params["external_gateway_info"] = out
    ips = []
    for ip in gw.get("external_fixed_ips") or []:
        subnet = ip.get("subnet_ref") or ip.get("subnet_name")
        sub = subnet.get("name") if isinstance(subnet, Mapping) else subnet
        ips.append({"ip_address": ip.get("ip_address"), "subnet_name": sub})
    if ips:
        # The gateway's IPs are source facts here (choosing them needs an admin).
        info["external_fixed_ips"] = sorted(ips, key=lambda i: i.get("ip_address") or "")


def _image_properties(src: Mapping, params: dict, used: set[str]) -> None:
    names = _image_property_names()
    props = dict(src.get("properties") or {})
    for attr, value in src.items():
        if attr in used or attr in ("id",) or value is None:
            continue
        if attr in names:
            props.setdefault(names[attr], value)
            used.add(attr)
    props = {k: v for k, v in props.items() if v is not None}
    if props:
        params["properties"] = props


def _convert_router_interface(ctx: _Ctx, rec: Mapping, where: str, dropped: list[str]) -> list[dict]:
    src = rec.get("params") or {}
    router = src.get("device_ref") or src.get("device_name")
    if router is None:
        raise _FieldError("params.device_ref", "the interface names no router")
    fixed = src.get("fixed_ips_refs")
    if fixed is None:
        fixed = src.get("fixed_ips_names")
    if not fixed:
        raise _FieldError("params.fixed_ips_refs", "the interface has no fixed IP")
    try:
        router_ref = ctx.ref(router)
    except ValueError as e:
        raise _FieldError("params.device_ref", str(e)) from e
    port_id = (rec.get("_info") or {}).get("id")
    out = []
    for i, ip in enumerate(fixed):
        field = f"params.fixed_ips_refs[{i}]"
        if not isinstance(ip, Mapping) or not ip.get("ip_address"):
            raise _FieldError(field, f"expected {{subnet_ref, ip_address}}, got {ip!r}")
        try:
            subnet = ctx.ref(ip.get("subnet_ref") or ip.get("subnet_name"))
        except ValueError as e:
            raise _FieldError(f"{field}.subnet_ref", str(e)) from e
        if subnet is None:
            raise _FieldError(f"{field}.subnet_ref", "the fixed IP names no subnet")
        info = {"device_owner": src.get("device_owner") or "network:router_interface"}
        if port_id:
            info.update(id=f"{port_id}/{subnet['name']}", port_id=port_id)
        out.append(
            {
                "type": REGISTRY["router_interfaces"].type,
                "params": {"router": router_ref, "subnet": subnet, "ip_address": ip["ip_address"]},
                "_info": info,
                "_migration_params": {},
            }
        )
    _report_unused(src, set(_HANDLED["router_interfaces"]), where, dropped)
    return out


class _FieldError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")


def _converter(type_key: str) -> Callable[..., list[dict]]:
    if type_key == "router_interfaces":
        return lambda ctx, tk, rec, where, dropped: _convert_router_interface(ctx, rec, where, dropped)
    return _convert_generic


def read_osm_file(path: Path) -> list:
    """Records of one OS Migrate data file.

    :raises ValueError: not YAML, not a mapping with ``resources``, or no OS Migrate version
        string (our own files, with an integer version, are refused too).
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"malformed YAML: {e}") from e
    if not isinstance(doc, Mapping) or not isinstance(doc.get("resources"), list):
        raise ValueError("not an OS Migrate data file: expected a mapping with a resources list")
    version = doc.get(VERSION_KEY)
    if not isinstance(version, str) or not _OSM_VERSION.match(version):
        raise ValueError(
            f"{VERSION_KEY}: {version!r} is not an OS Migrate 1.x version string"
            + (" (this file is already in this tool's format)" if version == 1 else "")
        )
    return doc["resources"]


def _infer_project(files: Mapping[Path, list]) -> tuple[str | None, str | None]:
    """The exported project: the one owning the referenced resources that are in the data."""
    names: dict[str, set[str]] = {}
    for records in files.values():
        for rec in records:
            if isinstance(rec, Mapping) and isinstance(rec.get("params"), Mapping):
                names.setdefault(str(rec.get("type")), set()).add(str(rec["params"].get("name")))
    kind_of = {
        "network_ref": "openstack.network.Network",
        "security_group_ref": "openstack.network.SecurityGroup",
        "remote_group_ref": "openstack.network.SecurityGroup",
        "device_ref": "openstack.network.Router",
    }
    seen: Counter[tuple[str, str | None]] = Counter()
    for records in files.values():
        for rec in records:
            params = rec.get("params") if isinstance(rec, Mapping) else None
            if not isinstance(params, Mapping):
                continue
            for key, rtype in kind_of.items():
                ref = params.get(key)
                if (
                    isinstance(ref, Mapping)
                    and ref.get("project_name")
                    and ref.get("name") in names.get(rtype, ())
                ):
                    seen[(ref["project_name"], ref.get("domain_name"))] += 1
    if not seen:
        return None, None
    (project, domain), _ = seen.most_common(1)[0]
    return project, domain


def _schema_errors(type_key: str, record: dict, where: str) -> list[str]:
    cls = REGISTRY[type_key]
    validator = jsonschema.Draft202012Validator(cls.json_schema())
    errors = [
        f"{where}: {'.'.join(str(p) for p in e.absolute_path) or '<record>'}: {e.message}"
        for e in validator.iter_errors(record)
    ]
    errors += [
        f"{where}: params.{p}: is required and must not be empty"
        for p in cls.required_params
        if is_empty(record["params"].get(p))
    ]
    return errors


def _osm_files(osm_dir: Path) -> Iterable[Path]:
    return sorted(p for p in osm_dir.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def convert_osm_dir(osm_dir: str | Path, out_dir: str | Path, *, src_project: str | None = None) -> dict:
    """Convert the OS Migrate 1.x data dir ``osm_dir`` into our data dir ``out_dir``.

    Records are merged into existing files of ``out_dir`` as an export would (matched by source id
    or identity), so converting again changes nothing. Image blobs exported by OS Migrate
    (``<osm_dir>/image_blobs/<id>-<name>``) become ``_migration_params.data_file``.

    :param src_project: name of the exported project, whose references become ``%auth%``; by
        default the project named by the references to resources present in the data.
    :returns: ``{"counts": {type: n}, "files": {type: path}, "changed": {type: bool},
        "dropped": [what was not mapped, one line each], "errors": []}``.
    :raises ValidationError: a file or record cannot be converted (every problem listed, as
        ``file: resources[i] (type 'name'): field: message``); nothing was written.
    :raises DataError: an existing file of ``out_dir`` cannot be read.
    """
    osm_dir, out_dir = Path(osm_dir), Path(out_dir)
    if not osm_dir.is_dir():
        raise ValidationError([f"{osm_dir}: not a directory"])
    errors: list[str] = []
    dropped: list[str] = []
    files: dict[Path, list] = {}
    for path in _osm_files(osm_dir):
        try:
            files[path] = read_osm_file(path)
        except ValueError as e:
            errors.append(f"{path}: {e}")
    project, domain = (src_project, None) if src_project else _infer_project(files)
    ctx = _Ctx(project, domain)
    converted: dict[str, list[dict]] = {}
    skipped: Counter[tuple[str, str]] = Counter()
    for path, records in files.items():
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping) or not isinstance(rec.get("params"), Mapping):
                errors.append(f"{path}: resources[{i}]: expected a mapping with params")
                continue
            osm_type = rec.get("type")
            name = rec["params"].get("name")
            where = f"{path}: resources[{i}] ({osm_type} {name!r})"
            type_key = OSM_TYPES.get(str(osm_type))
            if type_key is None:
                if not osm_type:
                    errors.append(f"{path}: resources[{i}]: type: missing")
                else:
                    skipped[(path.name, str(osm_type))] += 1
                continue
            try:
                new = _converter(type_key)(ctx, type_key, rec, where, dropped)
            except _FieldError as e:
                errors.append(f"{where}: {e}")
                continue
            if type_key == "images":
                _blob(osm_dir, rec, new[0], dropped, where)
            for record in new:
                problems = _schema_errors(type_key, record, where)
                errors.extend(problems)
                if not problems:
                    converted.setdefault(type_key, []).append(record)
    for (fname, osm_type), n in sorted(skipped.items()):
        dropped.append(
            f"{osm_dir / fname}: {n} record(s) of type {osm_type} are not converted (not supported)"
        )
    if errors:
        raise ValidationError(errors)
    summary: dict[str, Any] = {"counts": {}, "files": {}, "changed": {}}
    for type_key in [t for t in RESOURCE_TYPES if t in converted]:
        cls = REGISTRY[type_key]
        records = sorted(converted[type_key], key=partial(_identity, cls))
        refresh_data_file(
            data_file(out_dir, type_key), records, summary, type_key, identity=partial(_identity, cls)
        )
    summary.update(dropped=dropped, errors=[], src_project=project)
    for line in dropped:
        LOG.info("%s", line)
    return summary


def _identity(cls: type[Resource], record: dict) -> str:
    return cls(record).identity


def _blob(osm_dir: Path, rec: Mapping, record: dict, dropped: list[str], where: str) -> None:
    info = rec.get("_info") or {}
    blob = osm_dir / "image_blobs" / f"{info.get('id')}-{(rec.get('params') or {}).get('name')}"
    if info.get("id") and blob.is_file():
        record["_migration_params"]["data_file"] = str(blob.resolve())


__all__ = ["OSM_TYPES", "convert_osm_dir", "read_osm_file"]
