"""The migration of one server: :class:`ServerMigration`, whose methods are the steps.

``ServerMigration(src, dst, data_dir, name, overrides=..., flavor_map=...)`` holds both clouds,
the server's record (``name`` selects it in ``workloads.yml``; ``overrides`` update its
``_migration_params`` for this run; ``flavor_map`` maps source to destination flavor names), its state file, its disk plan and its disk copier. Its steps, in order::

    prepare()        decide (migrate / skip / done); stop the source, require SHUTOFF
    copy_disks()     every planned disk into a verified destination volume
    create_server()  ports, the server (block device mapping by boot index), floating IPs
    finalize()       always last: clean up, or roll back and raise MigrationFailed
    run()            all four as the DAG's mapped task group runs them (finalize always)

The module functions :func:`prepare_server`, :func:`copy_server_disks`,
:func:`create_destination_server`, :func:`finalize_server` and :func:`migrate_server`
(``step(src, dst, data_dir, name, *, overrides=None, flavor_map=None) -> dict``) build one object and run one step:
the Airflow operators call them, one task per step. The concerns live in their own modules:
:mod:`.disks` (plan, copies, block device mapping), :mod:`.ports`, :mod:`.floating_ips`,
:mod:`.rollback`; the copy methods in :mod:`.disk_copy`.

Each step is safe to run again after an interruption at any point, because every resource it
makes is found again deterministically:

- destination server: same name, metadata ``os_migrate_source_id: <source server id>``;
- destination volumes: metadata ``os_migrate_source_id: <source volume id>`` (or the source
  server id for a boot disk made from an image-booted server), and ``os_migrate_sha256`` once
  the data was verified and the image metadata set (the completion marker);
- destination ports (Neutron mode): the source MAC address on the destination network;
- temporaries: ``osm-tmp-<source id>`` in both clouds (see :mod:`.disk_copy`);
- what the source lost (its power state, detached volumes) and floating IPs we allocated: the
  state file (:class:`~os_migrate.workload.store.ServerState`).

A server whose name is taken in the destination by a server os-migrate did not create is
skipped (never touched). :meth:`ServerMigration.finalize` always runs last (in the DAG with
trigger rule ``all_done``): if the destination server is complete it removes temporaries and
leaves the source stopped (or restarts it with ``restart_source_after``); otherwise it removes
the partial destination resources, restores the source and raises
:class:`~os_migrate.workload.errors.MigrationFailed`.

The source server is never deleted or changed, except: stopped (``stop_before_migration``),
started again (on failure, or with ``restart_source_after``), and, only when its cloud can
neither snapshot nor force-upload an in-use volume, a data volume detached for the upload and
attached back at the same device right after.

Long waits (source SHUTOFF, destination ACTIVE, the disk copies' data waits) raise
:class:`~os_migrate.workload.errors.Pending` instead of polling when the step runs inside
:func:`~os_migrate.workload.cloudops.nonblocking_waits`; the step called again once the resource
is ready goes on from there (a stopping source is not stopped twice, a building server not made
twice).

A server in a server group (``params.server_group``, a reference by name) is created with the
scheduler hint ``group`` set to the id of the destination server group of the same name.

Timings: every step result carries ``started_at``/``finished_at`` (UTC, ISO 8601), and each step
of a server that is not skipped records them in the state file (with the error text of a failed
step), with the moments that make the downtime: ``source_stopped_at`` (prepare saw SHUTOFF after
stopping the source), ``source_found_off_at`` (prepare found it already SHUTOFF) and
``destination_active_at`` (create_server saw the destination ACTIVE). Steps run in different
processes, so :meth:`ServerMigration.finalize` reads them back from the state file and returns
them (:func:`timing_summary`); :func:`recorded_outcome` reads them for a server whose finalize
raised.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from openstack import exceptions as sdk_exc

from os_migrate.cloud import find_or_none
from os_migrate.exceptions import AmbiguousReference, ReferenceNotFound
from os_migrate.references import RefIndex
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SOURCE_ID_KEY
from os_migrate.workload.disk_copy import DiskCopier, make_copier
from os_migrate.workload.disks import (
    PlannedDisk,
    block_device_mapping,
    completed_copy,
    disk_plan,
    ensure_disk_copy,
    flavor_disk,
    portable_image_metadata,
    set_volume_image_metadata,
)
from os_migrate.workload.errors import (
    DestinationError,
    MigrationFailed,
    Pending,
    SourceStateError,
    WorkloadError,
)
from os_migrate.workload.floating_ips import attach_floating_ips, missing_floating_ips
from os_migrate.workload.ports import ensure_port, server_networks
from os_migrate.workload.records import Server
from os_migrate.workload.rollback import (
    cleanup_temporaries,
    reattach_source_volumes,
    restore_source_power,
    rollback_destination,
)
from os_migrate.workload.store import ServerState, load_server

LOG = logging.getLogger(__name__)

#: Step outcomes (``action`` of prepare, ``result`` of finalize).
MIGRATE, SKIP, DONE = "migrate", "skip", "done"
MIGRATED, SKIPPED, ROLLED_BACK = "migrated", "skipped", "rolled_back"
#: The steps of a server, in order (keys of the timings).
STEPS = ("prepare", "copy_disks", "create_server", "finalize")
#: Keys of a copy result kept in the state file for the report.
_COPY_KEYS = ("volume_id", "size", "bytes", "seconds", "mb_per_s", "method", "access", "sha256")


# -- timings ---------------------------------------------------------------------------------------


def utc_now() -> str:
    """The current time, UTC, ISO 8601 with milliseconds (``2026-12-03T15:04:05.123+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from ``start`` to ``end`` (ISO 8601 strings); None when either is missing."""
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def timing_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """The report's view of a state file's timings (see the module docstring).

    :param state: the state file's content.
    :returns: ``{"steps": {step: {"started_at", "finished_at", "seconds", "error"?}},
        "source_stopped_at", "source_found_off_at", "destination_active_at", "downtime_s",
        "downtime_note", "disks": [{"volume_id", "size" (GiB), "bytes", "seconds", "mb_per_s",
        ...}], "bytes", "errors": ["<step>: <error>"]}``; ``downtime_s`` is destination ACTIVE
        minus source stop (or, when the source was already off, minus the moment prepare found it
        off, which ``downtime_note`` says); None when either end is unknown.
    """
    recorded = state.get("steps") or {}
    steps = {
        name: {
            **recorded[name],
            "seconds": seconds_between(recorded[name].get("started_at"), recorded[name].get("finished_at")),
        }
        for name in STEPS
        if name in recorded
    }
    stopped, found = state.get("source_stopped_at"), state.get("source_found_off_at")
    active = state.get("destination_active_at")
    downtime = seconds_between(stopped or found, active)
    note = None
    if not stopped and found:
        note = f"the source was already SHUTOFF when prepare found it at {found}; downtime counted from then"
    elif not stopped and not found and steps.get("prepare"):
        note = "the source was not stopped (stop_before_migration false)"
    disks = list(state.get("copies") or [])
    return {
        "steps": steps,
        "source_stopped_at": stopped,
        "source_found_off_at": found,
        "destination_active_at": active,
        "downtime_s": downtime,
        "downtime_note": note,
        "disks": disks,
        "bytes": sum(int(d.get("bytes") or 0) for d in disks),
        "errors": [f"{name}: {rec['error']}" for name, rec in steps.items() if rec.get("error")],
    }


def recorded_outcome(data_dir: str | Path, name: str) -> dict[str, Any]:
    """What the state file says of server ``name`` (for a server whose finalize raised).

    :returns: ``{"server", "result": the state's result or None, "destination_id"?,
        **timing_summary}``.
    :raises DataError: no record, or several, with that name.
    """
    state = ServerState.load(data_dir, load_server(data_dir, name))
    out: dict[str, Any] = {"server": name, "result": state.get("result")}
    if state.get("destination_id"):
        out["destination_id"] = state.get("destination_id")
    return {**out, **timing_summary(state.data)}


# -- destination server lookup ---------------------------------------------------------------------


def destination_server(dst, server: Server) -> tuple[Any, bool]:
    """The destination server named like ``server``, and whether os-migrate made it.

    :returns: ``(server or None, ours)``; ``ours`` is True when its metadata names the source.
    """
    found = cloudops.servers_named(dst, server.name)
    ours = [s for s in found if (s.metadata or {}).get(SOURCE_ID_KEY) == server.source_id]
    if ours:
        return ours[0], True
    return (found[0], False) if found else (None, False)


def skip_reason(dst, server: Server) -> str | None:
    """Why ``server`` is skipped (its name is taken by a server we did not make), or None."""
    existing, ours = destination_server(dst, server)
    if existing is not None and not ours:
        return (
            f"a server named {server.name!r} already exists in the destination "
            f"({existing.id}) and was not created by os-migrate; skipped"
        )
    return None


def missing_pieces(dst, server: Server, dst_server) -> list[str]:
    """What the destination server still lacks (empty when the migration is complete)."""
    if dst_server is None:
        return ["the destination server does not exist"]
    missing = []
    if dst_server.status != "ACTIVE":
        missing.append(f"the destination server is {dst_server.status}")
    missing.extend(missing_floating_ips(dst, server, dst_server))
    return missing


# -- server group ----------------------------------------------------------------------------------


def destination_server_group_id(refs: RefIndex, server: Server) -> str | None:
    """Id of the destination group for the scheduler hint ``group``; None if the server has none.

    :param refs: the destination's reference index (kind ``server_group``).
    :raises DestinationError: the record names a group the destination lacks, or several.
    """
    ref = server.params.get("server_group")
    if not ref:
        return None
    try:
        return refs.id("server_group", ref)
    except (ReferenceNotFound, AmbiguousReference) as e:
        raise DestinationError(
            f"{server.name}: server group {ref.get('name')!r} not found in the destination, or not "
            f"unique ({e}); migrate the server groups first"
        ) from e


# -- the create request ----------------------------------------------------------------------------


def server_body(
    dst, server: Server, refs: RefIndex, networks: list, *, plan: list[PlannedDisk] | None = None
) -> dict:
    """The ``create_server`` body: flavor, NICs, metadata with the source marker, hints, disks.

    :raises DestinationError: a planned disk has no verified copy.
    :raises DestinationError: the server group is missing.
    :raises DestinationError: the destination flavor (:attr:`Server.flavor_name`) is missing.
    """
    p = server.params
    mp = server.migration_params
    flavor = cloudops.call(find_or_none, dst.compute.find_flavor, server.flavor_name)
    if flavor is None:
        raise DestinationError(
            f"{server.name}: {server.flavor_field}: flavor {server.flavor_name!r} not found in the destination"
        )
    body: dict[str, Any] = {
        "name": server.name,
        "flavor_id": flavor.id,
        "networks": networks or "none",
        "metadata": {
            **{k: str(v) for k, v in (p.get("metadata") or {}).items()},
            SOURCE_ID_KEY: server.source_id,
        },
    }
    for key in ("key_name", "availability_zone", "user_data", "description"):
        if p.get(key):
            body[key] = p[key]
    if p.get("config_drive"):
        body["config_drive"] = True
    if p.get("tags"):
        body["tags"] = list(p["tags"])
    hints = dict(p.get("scheduler_hints") or {})
    group_id = destination_server_group_id(refs, server)
    if group_id:
        hints["group"] = group_id
    if hints:
        body["scheduler_hints"] = hints
    if mp["port_creation_mode"] == "nova" and p.get("security_groups"):
        body["security_groups"] = [{"name": refs.id("security_group", sg)} for sg in p["security_groups"]]
    body["block_device_mapping"] = block_device_mapping(dst, server, refs, plan=plan)
    root = body["block_device_mapping"][0] if body["block_device_mapping"] else None
    if root and root["source_type"] == "image":
        body["image_id"] = root["uuid"]
    return body


# -- the migration of one server -------------------------------------------------------------------


class ServerMigration:
    """The migration of one server (see module docstring); each step method returns a JSON-able dict.

    :param src: source ``openstack.connection.Connection``.
    :param dst: destination ``openstack.connection.Connection``.
    :param data_dir: the data dir holding ``workloads.yml`` and ``workload_state/``.
    :param name: the server's name (its record in ``workloads.yml``).
    :param overrides: ``_migration_params`` values for this run.
    :param flavor_map: source flavor name -> destination flavor name for this run (the record's
        ``_migration_params.flavor_name`` wins; see :attr:`~.records.Server.flavor_name`).
    :param copier: the disk copier; default: ``copy_method`` of the record, made with its
        ``copy_settings`` and the state file as journal.
    :param ssh_resolver: resolves ``ssh_conn_id`` in conversion host settings (see
        :class:`~os_migrate.workload.disk_copy.CopyContext`).
    :raises DataError: no record, or several, with that name.
    :raises ValidationError: ``flavor_map`` does not map names to names.
    """

    def __init__(
        self,
        src,
        dst,
        data_dir: str | Path,
        name: str,
        *,
        overrides: Mapping[str, Any] | None = None,
        flavor_map: Mapping[str, str] | None = None,
        copier: DiskCopier | None = None,
        ssh_resolver: Callable[[str], Any] | None = None,
    ):
        self.src = src
        self.ssh_resolver = ssh_resolver
        self.dst = dst
        self.data_dir = data_dir
        self.name = name
        self.server = load_server(data_dir, name, overrides, flavor_map)
        self._copier = copier

    # -- what the steps share ----------------------------------------------------------------------
    @cached_property
    def state(self) -> ServerState:
        """The state file (journal of source changes and allocated floating IPs)."""
        return ServerState.load(self.data_dir, self.server)

    @property
    def copier(self) -> DiskCopier:
        """The disk copier of ``copy_method`` (made on first use).

        :raises CopyError: unknown copy method.
        """
        if self._copier is None:
            self._copier = self._make_copier()
        return self._copier

    def _make_copier(self) -> DiskCopier:
        mp = self.server.migration_params
        settings = {k: v for k, v in (mp.get("copy_settings") or {}).items() if k != "parallel_disks"}
        return make_copier(
            mp["copy_method"],
            self.src,
            self.dst,
            journal=self.state,
            ssh_resolver=self.ssh_resolver,
            **settings,
        )

    @cached_property
    def disk_plan(self) -> list[PlannedDisk]:
        """The disks to copy, sized to the destination flavor (:func:`.disks.disk_plan`)."""
        return disk_plan(self.server, flavor_disk=flavor_disk(self.dst, self.server))

    def skip_reason(self) -> str | None:
        """Why this server is skipped (name taken by a server we did not make), or None."""
        return skip_reason(self.dst, self.server)

    def destination_server(self) -> tuple[Any, bool]:
        """``(destination server or None, made by os-migrate)``."""
        return destination_server(self.dst, self.server)

    def _timed(self, step: str, work: Callable[[], dict]) -> dict:
        """Run one step; add ``started_at``/``finished_at`` to its result and record them (and a
        failure's error text) in the state file, unless the server is skipped or was finished by
        an earlier run (whose timings stay). A step that waits in non-blocking mode
        (:class:`Pending`) is recorded as pending, and its resumption keeps the first start."""
        earlier = (self.state.get("steps") or {}).get(step) or {}
        started = earlier["started_at"] if earlier.get("pending") else utc_now()
        try:
            result = work()
        except Pending:
            self._record_step(step, started, pending=True)
            raise
        except Exception as e:
            self._record_step(step, started, error=f"{type(e).__name__}: {e}")
            raise
        finished = utc_now()
        if result.get("action") not in (SKIP, DONE) and result.get("result") != SKIPPED:
            self._record_step(step, started, finished=finished)
        return {**result, "started_at": started, "finished_at": finished}

    def _record_step(
        self,
        step: str,
        started: str,
        *,
        finished: str | None = None,
        error: str | None = None,
        pending: bool = False,
    ) -> None:
        entry: dict[str, Any] = {
            "started_at": started,
            "finished_at": None if pending else finished or utc_now(),
        }
        if error:
            entry["error"] = error
        if pending:
            entry["pending"] = True
        try:
            self.state.set(steps={**(self.state.get("steps") or {}), step: entry})
        except OSError as e:  # the step's own outcome matters more than its timing
            LOG.warning("%s: cannot record the timing of %s: %s", self.name, step, e)

    # -- step 1 ----------------------------------------------------------------------------------
    def prepare(self) -> dict:
        """Decide whether the server is migrated, and stop the source server if asked.

        Order: the destination is checked first (a taken name or a finished migration means the
        source is left alone), then the source status is recorded in the state file, then the
        server is stopped (``stop_before_migration``) and SHUTOFF is required.

        :returns: ``{"server", "action": "migrate"|"skip"|"done", "reason"?, "source_status",
            "started_at", "finished_at"}``; ``done`` means an earlier run finished this server.
        :raises SourceStateError: the source server is missing, or in a status other than ACTIVE or
            SHUTOFF, or does not reach SHUTOFF.
        """
        return self._timed("prepare", self._prepare)

    def _prepare(self) -> dict:
        name, server, src, dst = self.name, self.server, self.src, self.dst
        reason = self.skip_reason()
        if reason:
            LOG.info("%s", reason)
            return {"server": name, "action": SKIP, "reason": reason}
        state = self.state
        existing, ours = self.destination_server()
        if ours and existing.status == "ACTIVE" and not missing_pieces(dst, server, existing):
            return {
                "server": name,
                "action": DONE,
                "reason": "already migrated by an earlier run",
                "destination_id": existing.id,
            }
        source = cloudops.get_server(src, server.source_id)
        if source is None:
            raise SourceStateError(f"source server {name!r} ({server.source_id}) not found")
        if state.get("result") == MIGRATED:
            # Finished before; the destination lost a piece since (e.g. a floating IP): complete it
            # without touching the source again.
            LOG.info(
                "%s was migrated by an earlier run; completing %s",
                name,
                "; ".join(missing_pieces(dst, server, existing)) if existing else "it",
            )
            return {
                "server": name,
                "action": MIGRATE,
                "source_status": source.status,
                "source_status_before": state.get("source_status_before"),
            }
        if state.get("source_status_before") is None or state.get("result") == ROLLED_BACK:
            # a fresh migration: forget the timings of an earlier, rolled back one
            state.set(
                source_status_before=source.status,
                result=None,
                steps={},
                copies=[],
                source_stopped_at=None,
                source_found_off_at=None,
                destination_active_at=None,
            )
        mp = server.migration_params
        if mp["stop_before_migration"]:
            stopping = source.status == "ACTIVE"
            if stopping and source.task_state == "powering-off":
                LOG.info("source server %s (%s) is stopping", name, source.id)  # a re-entry
            elif stopping:
                state.set(stopped_by_os_migrate=True)
                LOG.info("stopping source server %s (%s)", name, source.id)
                src.compute.stop_server(source)
            elif source.status != "SHUTOFF":
                raise SourceStateError(
                    f"source server {name!r} is {source.status}; it must be ACTIVE "
                    "(it is stopped first) or SHUTOFF"
                )
            source = cloudops.wait_server(
                src,
                source.id,
                "SHUTOFF",
                what=f"source server {name}",
                timeout=300,
                error=SourceStateError,
                side="src",
            )
            if stopping or (state.get("stopped_by_os_migrate") and not state.get("source_stopped_at")):
                # (a re-entry after a deferred wait for SHUTOFF finds it off: os-migrate stopped it)
                state.set(source_stopped_at=utc_now(), source_found_off_at=None)
            elif not state.get("source_stopped_at") and not state.get("source_found_off_at"):
                state.set(source_found_off_at=utc_now())
        elif source.status not in ("ACTIVE", "SHUTOFF"):
            raise SourceStateError(f"source server {name!r} is {source.status}; expected ACTIVE or SHUTOFF")
        return {
            "server": name,
            "action": MIGRATE,
            "source_status": source.status,
            "source_status_before": state.get("source_status_before"),
        }

    # -- step 2 ----------------------------------------------------------------------------------
    def copy_disks(self) -> dict:
        """Copy every planned disk (:attr:`disk_plan`) into destination volumes.

        A disk whose verified copy exists is not copied again; a half-made copy is deleted and made
        again. Temporaries of a finished disk are removed at once.

        :returns: ``{"server", "action", "disks": [CopyResult as dict, ...], "started_at",
            "finished_at"}``.
        :raises CopyError: a copy failed (temporaries stay for the re-run or finalize).
        """
        return self._timed("copy_disks", self._copy_disks)

    def _copy_disks(self) -> dict:
        reason = self.skip_reason()
        if reason:
            return {"server": self.name, "action": SKIP, "reason": reason, "disks": []}
        disks = self.disk_plan
        workers = min(len(disks), self.parallel_disks)
        if workers <= 1:
            results = [ensure_disk_copy(self.copier, self.dst, disk, self.server) for disk in disks]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"copy-{self.name}") as pool:
                # each thread runs in a copy of this context (non-blocking waits carry over)
                futures = [
                    pool.submit(contextvars.copy_context().run, self._copy_one, disk) for disk in disks
                ]
                wait(futures)
            failures = [e for f in futures if (e := f.exception()) is not None and not isinstance(e, Pending)]
            if failures:  # a failure wins over another disk's Pending
                raise failures[0]
            results = [f.result() for f in futures]  # the first failure, once every disk ended
        copies = [r.to_dict() for r in results]
        self.state.set(copies=[{k: c.get(k) for k in _COPY_KEYS} for c in copies])
        return {"server": self.name, "action": MIGRATE, "disks": copies}

    @property
    def parallel_disks(self) -> int:
        """Disks of this server copied at once: ``copy_settings.parallel_disks`` (default 1).

        Above 1 only where reading the disks needs no action on the source server (volumes
        readable through snapshots): Nova runs one task per server at a time and refuses a detach
        during a server snapshot (409 ``task_state image_pending_upload``).
        """
        settings = self.server.migration_params.get("copy_settings") or {}
        return max(1, int(settings.get("parallel_disks") or 1))

    def _copy_one(self, disk: PlannedDisk):
        """One disk with a copier of its own (copiers hold per-disk state and SSH sessions)."""
        if self._copier is not None:  # injected (tests): shared
            return ensure_disk_copy(self._copier, self.dst, disk, self.server)
        copier = self._make_copier()
        try:
            return ensure_disk_copy(copier, self.dst, disk, self.server)
        finally:
            copier.close()

    # -- step 3 ----------------------------------------------------------------------------------
    def create_server(self) -> dict:
        """Create ports, the server (block device mapping by boot index) and floating IPs.

        Idempotent: an existing server of ours that is ACTIVE is kept (only missing floating IPs
        are added); one in ERROR is deleted and made again; Neutron-mode ports are found by MAC.

        :returns: ``{"server", "action", "destination_id", "ports": [ids], "floating_ips":
            [addresses], "warnings": [...], "destination_active_at", "started_at", "finished_at"}``.
        :raises DestinationError: a copy is missing, the server group is missing, the server went
            ERROR, or a port/address is taken by something else.
        """
        return self._timed("create_server", self._create_server)

    def _create_server(self) -> dict:
        name, server, dst = self.name, self.server, self.dst
        reason = self.skip_reason()
        if reason:
            return {"server": name, "action": SKIP, "reason": reason}
        state = self.state
        refs = RefIndex(dst)
        warnings: list[str] = []
        existing, _ = self.destination_server()
        if existing is not None and existing.status == "ERROR":
            LOG.warning("destination server %s (%s) is in ERROR; deleting it to try again", name, existing.id)
            cloudops.call(dst.compute.delete_server, existing.id, ignore_missing=True)
            cloudops.wait_server_gone(dst, existing.id, what=f"destination server {name}")
            existing = None
        if existing is None:
            networks = server_networks(dst, server, refs, warnings)
            body = server_body(dst, server, refs, networks, plan=self.disk_plan)
            LOG.info(
                "creating destination server %s (%d NICs, %d block devices)",
                name,
                len(networks),
                len(body.get("block_device_mapping", [])),
            )
            created = dst.compute.create_server(**body)
            existing = cloudops.get_server(dst, created.id) or created
        try:
            existing = cloudops.wait_server(
                dst,
                existing.id,
                "ACTIVE",
                what=f"destination server {name}",
                error=DestinationError,
                side="dst",
            )
        except DestinationError:
            LOG.error("destination server %s failed; deleting it", name)
            cloudops.call(dst.compute.delete_server, existing.id, ignore_missing=True)
            raise
        if not state.get("destination_active_at") or state.get("destination_active_id") != existing.id:
            state.set(destination_active_at=utc_now(), destination_active_id=existing.id)
        fips = attach_floating_ips(dst, server, existing, refs, state, warnings)
        ports = [p.id for p in cloudops.listing(dst.network.ports, device_id=existing.id)]
        for w in warnings:
            LOG.warning("%s: %s", name, w)
        return {
            "server": name,
            "action": MIGRATE,
            "destination_id": existing.id,
            "ports": ports,
            "floating_ips": fips,
            "warnings": warnings,
            "destination_active_at": state.get("destination_active_at"),
        }

    # -- step 4 ----------------------------------------------------------------------------------
    def finalize(self) -> dict:
        """Finish or undo the migration, whatever happened before (always safe to run).

        - skipped server (name taken by a server we did not make): nothing is touched;
        - complete destination server: temporaries removed in both clouds, detached source volumes
          attached again, the source restarted only with ``restart_source_after``;
        - anything else: our destination server, ports, allocated floating IPs and volumes are
          deleted, temporaries removed, source volumes attached again, the source started again if
          we stopped it; then :class:`MigrationFailed` is raised. Except after an earlier run had
          finished the server: then nothing is deleted and :class:`WorkloadError` names what the
          destination lacks.

        :returns: ``{"server", "result": "migrated"|"skipped", "destination_id"?, "source_status",
            "cleaned": [...], "started_at", "finished_at"}``, and for a migrated server everything
            of :func:`timing_summary` (steps with this one, disks, downtime).
        :raises MigrationFailed: the migration was unfinished and has been rolled back (its error
            and the timings stay in the state file: :func:`recorded_outcome`).
        """
        result = self._timed("finalize", self._finalize)
        if result.get("result") == MIGRATED:
            result.update(timing_summary(self.state.data))
        return result

    def _finalize(self) -> dict:
        name, server, src, dst = self.name, self.server, self.src, self.dst
        reason = self.skip_reason()
        if reason:
            return {"server": name, "result": SKIPPED, "reason": reason}
        state = self.state
        existing, _ = self.destination_server()
        missing = missing_pieces(dst, server, existing)
        cleaned = cleanup_temporaries(self.copier, server, dst)
        reattach_source_volumes(src, state)
        if not missing:
            status = restore_source_power(
                src, server, state, restart=server.migration_params["restart_source_after"]
            )
            state.set(result=MIGRATED, destination_id=existing.id)
            LOG.info("%s migrated: destination server %s ACTIVE; source %s", name, existing.id, status)
            return {
                "server": name,
                "result": MIGRATED,
                "destination_id": existing.id,
                "source_status": status,
                "cleaned": cleaned,
            }
        if state.get("result") == MIGRATED:
            raise WorkloadError(
                f"{name}: migrated by an earlier run, but the destination now lacks: "
                f"{'; '.join(missing)}. Nothing was rolled back; fix it or run again."
            )
        LOG.error("%s: migration unfinished (%s); rolling back the destination", name, "; ".join(missing))
        rolled = rollback_destination(dst, server, state, existing)
        status = restore_source_power(src, server, state, restart=True)
        state.set(result=ROLLED_BACK)
        raise MigrationFailed(
            f"{name}: migration unfinished ({'; '.join(missing)}); destination rolled back "
            f"({len(rolled)} resource(s) deleted), source server {status}. Fix the cause (see the "
            "failed task before this one) and run again."
        )

    # -- everything ------------------------------------------------------------------------------
    def run(self) -> dict:
        """All steps in order, finalize always last (what the DAG's mapped task group does).

        :returns: finalize's result, plus ``copies`` (the copy results) when disks were copied.
        :raises MigrationFailed: a step failed; the destination was rolled back, the source restored.
        """
        copies = None
        try:
            prepared = self.prepare()
            if prepared["action"] == MIGRATE:
                copies = self.copy_disks()
                self.create_server()
        except (WorkloadError, sdk_exc.SDKException) as e:
            LOG.error("%s: %s: %s", self.name, type(e).__name__, e)
            try:
                self.finalize()
            except MigrationFailed as failed:
                raise failed from e
            raise
        result = self.finalize()
        if copies is not None:
            result["copies"] = copies["disks"]
        return result


# -- one step per call (what the Airflow operators run, one task each) ------------------------------


def prepare_server(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
) -> dict:
    """:meth:`ServerMigration.prepare` of ``name``."""
    return ServerMigration(
        src, dst, data_dir, name, overrides=overrides, flavor_map=flavor_map, ssh_resolver=ssh_resolver
    ).prepare()


def copy_server_disks(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    copier: DiskCopier | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
) -> dict:
    """:meth:`ServerMigration.copy_disks` of ``name`` (``copier``, ``ssh_resolver``: see
    :class:`ServerMigration`)."""
    return ServerMigration(
        src,
        dst,
        data_dir,
        name,
        overrides=overrides,
        flavor_map=flavor_map,
        copier=copier,
        ssh_resolver=ssh_resolver,
    ).copy_disks()


def create_destination_server(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
) -> dict:
    """:meth:`ServerMigration.create_server` of ``name``."""
    return ServerMigration(
        src, dst, data_dir, name, overrides=overrides, flavor_map=flavor_map, ssh_resolver=ssh_resolver
    ).create_server()


def finalize_server(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
) -> dict:
    """:meth:`ServerMigration.finalize` of ``name``."""
    return ServerMigration(
        src, dst, data_dir, name, overrides=overrides, flavor_map=flavor_map, ssh_resolver=ssh_resolver
    ).finalize()


def migrate_server(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
) -> dict:
    """:meth:`ServerMigration.run` of ``name``: every step, finalize always last."""
    return ServerMigration(
        src, dst, data_dir, name, overrides=overrides, flavor_map=flavor_map, ssh_resolver=ssh_resolver
    ).run()


__all__ = [
    "DONE",
    "MIGRATE",
    "MIGRATED",
    "ROLLED_BACK",
    "SKIP",
    "SKIPPED",
    "STEPS",
    "PlannedDisk",
    "ServerMigration",
    "attach_floating_ips",
    "block_device_mapping",
    "completed_copy",
    "copy_server_disks",
    "create_destination_server",
    "destination_server",
    "destination_server_group_id",
    "disk_plan",
    "ensure_disk_copy",
    "ensure_port",
    "finalize_server",
    "migrate_server",
    "missing_pieces",
    "portable_image_metadata",
    "prepare_server",
    "recorded_outcome",
    "rollback_destination",
    "server_body",
    "set_volume_image_metadata",
    "skip_reason",
    "timing_summary",
]
