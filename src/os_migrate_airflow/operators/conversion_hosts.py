"""Managed conversion hosts: a setup task that deploys one host per project, a teardown that removes
them (thin operators over :mod:`os_migrate.workload.managed_hosts`).

Deployment ``<tenant>-src`` in the source project and ``<tenant>-dst`` in the destination; each
private key is a 0600 file under :func:`key_dir` (``$OS_MIGRATE_KEY_DIR/<tenant>``, default
``$AIRFLOW_HOME/os-migrate-keys/<tenant>``: outside the data dir, on a volume every worker shares,
as the data dir is). The setup task returns ``{"src_host": {"host_file": ...}, "dst_host": {...}}``
(paths only), which the copy tasks merge into ``copy_settings``. SSH is allowed from
``allow_from`` (the migrator's addresses) and from the peer host.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from os_migrate.workload.managed_hosts import deploy_host, remove_host
from os_migrate_airflow.operators.base import OsMigrateBaseOperator, core_errors, jsonable

if TYPE_CHECKING:
    from airflow.sdk import Context

KEY_DIR_ENV = "OS_MIGRATE_KEY_DIR"


def key_dir(tenant: str) -> str:
    """Where a tenant's managed-host keys and host files live (read on the worker)."""
    root = os.environ.get(KEY_DIR_ENV) or os.path.join(
        os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "os-migrate-keys"
    )
    return os.path.join(root, tenant)


class _HostsOperator(OsMigrateBaseOperator):
    """Common arguments: ``tenant`` (names the deployments and the key dir) and ``mode``
    (``managed`` acts; ``provided`` does nothing), both templated."""

    template_fields: Sequence[str] = (*OsMigrateBaseOperator.template_fields, "tenant", "mode")
    ui_color = "#e6eef2"

    def __init__(self, *, tenant: str, mode: str = "managed", **kwargs: Any) -> None:
        kwargs.setdefault("data_dir", "")
        super().__init__(**kwargs)
        self.tenant = tenant
        self.mode = mode

    def _names(self) -> dict[str, str]:
        return {"src": f"{self.tenant}-src", "dst": f"{self.tenant}-dst"}


class ConversionHostsDeployOperator(_HostsOperator):
    """Deploy (or find again) a conversion host in each project; wait until SSH and tools answer.

    :param image: image name or id of the hosts (templated); ``dst_image`` if the destination's differs.
    :param flavor: flavor name or id (templated).
    :param network: network of the source host's port; ``dst_network`` for the destination host.
    :param floating_network: external network for floating IPs, or None (templated).
    :param address: ``fixed`` or ``floating``: which address the worker connects to.
    :param allow_from: CIDRs allowed to SSH besides the peer host (the worker's addresses).
    :returns: the copy settings (``{"src_host": {"host_file"}, "dst_host": {...}}``), or None for
        provided hosts.
    """

    template_fields: Sequence[str] = (
        *_HostsOperator.template_fields,
        "image",
        "flavor",
        "network",
        "dst_network",
        "dst_image",
        "floating_network",
        "address",
        "allow_from",
    )

    def __init__(
        self,
        *,
        image: str | None = None,
        flavor: str | None = None,
        network: str | None = None,
        dst_network: str | None = None,
        dst_image: str | None = None,
        floating_network: str | None = None,
        address: str = "fixed",
        allow_from: list[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.flavor = flavor
        self.network = network
        self.dst_network = dst_network
        self.dst_image = dst_image
        self.floating_network = floating_network
        self.address = address
        self.allow_from = allow_from

    def execute(self, context: Context) -> dict[str, Any] | None:
        if self.mode != "managed":
            self.log.info("Conversion hosts are %r: nothing to deploy", self.mode)
            return None
        allow = list(self.param("allow_from", list) or [])
        names, keys = self._names(), key_dir(str(self.tenant))
        conns = {"src": self.src, "dst": self.dst}
        nets = {"src": self.network, "dst": self.dst_network or self.network}
        images = {"src": self.image, "dst": self.dst_image or self.image}
        hosts: dict[str, Any] = {}
        with core_errors():
            # both hosts first, then each again with the peer's address allowed
            for _round in (1, 2):
                for side, peer in (("src", "dst"), ("dst", "src")):
                    peer_ip = [f"{hosts[peer].fixed_ip}/32"] if peer in hosts else []
                    hosts[side] = deploy_host(
                        conns[side],
                        name=names[side],
                        image=str(images[side]),
                        network=str(nets[side]),
                        allow_from=allow + peer_ip,
                        peer_network=str(nets[peer]),
                        role="source" if side == "src" else "destination",
                        flavor=str(self.flavor),
                        key_dir=keys,
                        floating_network=self.floating_network or None,
                        address=self.address or "fixed",
                    )
        for side, host in hosts.items():
            self.log.info("%s conversion host: %s", side, jsonable(host.summary()))
        return {f"{side}_host": host.settings() for side, host in hosts.items()}


class ConversionHostsRemoveOperator(_HostsOperator):
    """Remove both managed hosts and everything made for them (teardown), unless ``keep`` is true
    (the next wave reuses them).

    :param keep: keep the hosts (templated).
    :returns: what was deleted.
    """

    template_fields: Sequence[str] = (*_HostsOperator.template_fields, "keep")

    def __init__(self, *, keep: bool | str = False, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.keep = keep

    def execute(self, context: Context) -> list[str]:
        if self.mode != "managed":
            return []
        if self.param("keep", bool, default=False):
            self.log.info("Keeping the conversion hosts for the next wave")
            return []
        names, keys = self._names(), key_dir(str(self.tenant))
        done: list[str] = []
        with core_errors():
            done += remove_host(self.dst, name=names["dst"], key_dir=keys)
            done += remove_host(self.src, name=names["src"], key_dir=keys)
        for line in done:
            self.log.info("removed %s", line)
        return done
