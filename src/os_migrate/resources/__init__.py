"""Resource type registry, in dependency order (a type only references types before it)."""

from __future__ import annotations

from os_migrate.resources.base import Resource
from os_migrate.resources.compute import Keypair
from os_migrate.resources.image import Image
from os_migrate.resources.network import (
    Network,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)

#: Resource classes in import order.
RESOURCE_CLASSES: tuple[type[Resource], ...] = (
    Network,
    Subnet,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Image,
    Keypair,
)

#: type key (file stem) -> class.
REGISTRY: dict[str, type[Resource]] = {cls.type_key: cls for cls in RESOURCE_CLASSES}

#: dotted ``type`` value -> class.
BY_TYPE_NAME: dict[str, type[Resource]] = {cls.type: cls for cls in RESOURCE_CLASSES}

#: RefIndex kind -> type key of the resources a reference of that kind may point to.
KIND_TYPE_KEY: dict[str, str] = {cls.ref_kind: cls.type_key for cls in RESOURCE_CLASSES if cls.ref_kind}

#: Type keys in dependency order.
RESOURCE_TYPES: tuple[str, ...] = tuple(REGISTRY)

__all__ = [
    "BY_TYPE_NAME",
    "Image",
    "KIND_TYPE_KEY",
    "Keypair",
    "REGISTRY",
    "RESOURCE_CLASSES",
    "RESOURCE_TYPES",
    "Network",
    "Resource",
    "Router",
    "RouterInterface",
    "SecurityGroup",
    "SecurityGroupRule",
    "Subnet",
]
