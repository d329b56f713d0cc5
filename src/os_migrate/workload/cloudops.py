"""Small, reusable cloud operations of workload migration: waits, name lookups, deletes.

Quirks handled here, in one place:

- some Cinder deployments refuse ``name``/``metadata`` filters on volume and snapshot lists
  ("Invalid filters name are found in query options" when ``resource_filters`` lack them), so
  volumes and snapshots are listed once and filtered client-side;
- API servers restart or drop a connection now and then; status polls retry transient
  connection errors instead of failing a long copy;
- every wait has a timeout proportional to the work (``volume_timeout``).

Waits: a server's deletion uses openstacksdk's ``wait_for_delete`` (and the destination image
upload, in :mod:`os_migrate.transfer`, ``wait_for_status``). The others stay on :func:`wait_until`,
because openstacksdk's waits do not fit them: a server wait also needs ``task_state`` cleared, a
Cinder delete must fail fast on ``error_deleting``, and the long data waits (an upload of a large
volume takes hours) must survive a restarting API, which :func:`call` retries for reads only
(keystoneauth's ``status_code_retries`` on a connection would also retry the non-idempotent
creates of the same session).

Non-blocking waits: inside :func:`nonblocking_waits`, a wait given a ``side`` (``src``/``dst``)
checks the resource once and raises :class:`~os_migrate.workload.errors.Pending` when it is not yet
there, instead of polling (the Airflow provider defers the task to its triggerer and calls the
step again). Only the long data and server waits of the steps pass a ``side``, at places where
calling the step again resumes without making a second resource; every other wait blocks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from os_migrate.transfer import IMAGE_FAILURES
from os_migrate.workload.errors import Pending, WorkloadError

LOG = logging.getLogger(__name__)

GIB = 1024**3
#: HTTP statuses of a restarting or overloaded API (worth retrying a read after).
TRANSIENT_STATUSES = (502, 503, 504)
#: Terminal failure states of Cinder volumes and snapshots.
VOLUME_FAILURES = ("error", "error_restoring", "error_extending", "error_deleting", "error_managing")
#: Terminal failure states of Cinder snapshots.
SNAPSHOT_FAILURES = ("error", "error_deleting")
#: Prefix of every temporary resource (``osm-tmp-<source id>``): deterministic, so a re-run finds
#: and reuses or removes what an interrupted run left.
TMP_PREFIX = "osm-tmp-"
#: Metadata key on destination servers and volumes naming their source (idempotency marker).
SOURCE_ID_KEY = "os_migrate_source_id"
#: Metadata key set on a destination volume once its data was verified (completion marker).
SHA256_KEY = "os_migrate_sha256"


#: False inside :func:`nonblocking_waits` (per thread/task: a context variable).
_BLOCKING: ContextVar[bool] = ContextVar("os_migrate_blocking_waits", default=True)


@contextmanager
def nonblocking_waits(enabled: bool = True) -> Iterator[None]:
    """Within the block, deferrable waits raise :class:`Pending` instead of polling.

    :param enabled: False makes the block blocking again (for a section that must not stop
        half-way, e.g. between a detach and the re-attach).
    """
    token = _BLOCKING.set(not enabled)
    try:
        yield
    finally:
        _BLOCKING.reset(token)


def waits_block() -> bool:
    """True when waits poll (the default), False inside :func:`nonblocking_waits`."""
    return _BLOCKING.get()


def tmp_name(source_id: str) -> str:
    """Name of the temporary snapshot/volume/image made for one source disk."""
    return f"{TMP_PREFIX}{source_id}"


def volume_timeout(size_gib: int | float | None) -> float:
    """Seconds to wait for a data operation on a volume of ``size_gib`` GiB (5 min + 2 min/GiB)."""
    return 300.0 + 120.0 * float(size_gib or 1)


def is_transient(exc: BaseException) -> bool:
    """True for a dropped/refused connection or a 502/503/504 answer."""
    if isinstance(exc, (ksa_exc.ConnectionError, ksa_exc.RetriableConnectionFailure)):
        return True
    return isinstance(exc, sdk_exc.HttpException) and getattr(exc, "status_code", None) in TRANSIENT_STATUSES


def call(func: Callable, *args: Any, attempts: int = 5, delay: float = 2.0, **kwargs: Any) -> Any:
    """Call ``func``, retrying transient errors (:func:`is_transient`); for idempotent reads.

    :raises: the last error after ``attempts`` tries, or any non-transient error at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return func(*args, **kwargs)
        except (ksa_exc.ClientException, sdk_exc.SDKException) as e:
            if attempt == attempts or not is_transient(e):
                raise
            LOG.warning("transient error (%s), retry %d/%d in %.0f s", e, attempt, attempts - 1, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")  # pragma: no cover


def listing(method: Callable[..., Any], *args: Any, **kwargs: Any) -> list:
    """``list(method(*args, **kwargs))`` (a paginated proxy listing), retried like :func:`call`.

    Binds its arguments at call time, so it is safe in a loop (unlike a ``lambda`` closure).
    """
    return call(lambda: list(method(*args, **kwargs)))


def wait_until(
    fetch: Callable[[], Any],
    ready: Callable[[Any], bool],
    *,
    what: str,
    timeout: float,
    interval: float = 2.0,
    failed: Callable[[Any], str | None] | None = None,
    error: type[WorkloadError] = WorkloadError,
    pending: Pending | None = None,
) -> Any:
    """Poll ``fetch()`` until ``ready(obj)``.

    :param fetch: returns the current object (None if it does not exist).
    :param ready: the condition to reach.
    :param what: description for messages (``volume osm-tmp-... available``).
    :param timeout: seconds.
    :param failed: returns a reason when the object reached a terminal failure state.
    :param error: exception class raised on failure or timeout.
    :param pending: raised (after one check) instead of polling inside :func:`nonblocking_waits`;
        None: this wait always blocks.
    :returns: the last fetched object.
    :raises WorkloadError: (``error``) failure state reached, or timeout.
    :raises Pending: ``pending``, when not ready in non-blocking mode.
    """
    deadline = time.monotonic() + timeout
    while True:
        obj = call(fetch)
        if ready(obj):
            return obj
        reason = failed(obj) if failed is not None and obj is not None else None
        if reason:
            raise error(f"{what}: {reason}")
        if pending is not None and not _BLOCKING.get():
            LOG.info("%s: not yet (status %s); deferring the wait", what, getattr(obj, "status", "gone"))
            raise pending
        if time.monotonic() > deadline:
            state = getattr(obj, "status", None) if obj is not None else "gone"
            raise error(f"{what}: still {state!r} after {timeout:.0f} s")
        time.sleep(interval)


# -- volumes ---------------------------------------------------------------------------------------


def get_volume(conn, volume_id: str):
    """The volume, or None if it does not exist."""
    try:
        return call(conn.block_storage.get_volume, volume_id)
    except sdk_exc.NotFoundException:
        return None


def project_volumes(conn) -> list:
    """Every volume of the connection's project, with details (one paginated list)."""
    return list(call(lambda: list(conn.block_storage.volumes(details=True))))


def volumes_named(conn, name: str) -> list:
    """Volumes of the project with exactly this name (client-side filter, see module doc)."""
    return [v for v in project_volumes(conn) if v.name == name]


def volumes_with_marker(conn, source_id: str) -> list:
    """Volumes of the project whose metadata names ``source_id`` (:data:`SOURCE_ID_KEY`)."""
    return [v for v in project_volumes(conn) if (v.metadata or {}).get(SOURCE_ID_KEY) == source_id]


def wait_volume(
    conn,
    volume_id: str,
    statuses: str | tuple[str, ...],
    *,
    what: str,
    timeout: float,
    error: type[WorkloadError] = WorkloadError,
    interval: float = 2.0,
    side: str | None = None,
):
    """Wait until the volume's status is one of ``statuses``; fail on an ``error*`` status.

    :param interval: seconds between polls (short for steps that take about a second, e.g. attach).
    :param side: ``src``/``dst``: the wait may raise :class:`Pending` (see
        :func:`nonblocking_waits`); None: it always blocks.
    """
    statuses = (statuses,) if isinstance(statuses, str) else statuses
    label = f"{what} ({volume_id}) {'/'.join(statuses)}"
    return wait_until(
        lambda: get_volume(conn, volume_id),
        lambda v: v is not None and v.status in statuses,
        failed=lambda v: f"status {v.status}" if v.status in VOLUME_FAILURES else None,
        what=label,
        timeout=timeout,
        error=error,
        interval=interval,
        pending=Pending("volume", volume_id, statuses, VOLUME_FAILURES, side, label, timeout)
        if side
        else None,
    )


def wait_volume_settled(conn, volume_id: str, *, what: str, timeout: float):
    """Wait while the volume is busy (creating, downloading, uploading, attaching...).

    :returns: the volume in its settled status, or None if it disappeared.
    """
    busy = (
        "creating",
        "downloading",
        "uploading",
        "attaching",
        "detaching",
        "reserved",
        "backing-up",
        "restoring-backup",
        "extending",
        "retyping",
        "maintenance",
        "deleting",
    )
    return wait_until(
        lambda: get_volume(conn, volume_id),
        lambda v: v is None or v.status not in busy,
        what=f"{what} ({volume_id}) settled",
        timeout=timeout,
    )


def delete_volume(conn, volume, *, what: str, timeout: float = 300.0) -> None:
    """Delete a volume (waiting out a busy status first) and wait until it is gone."""
    vol = wait_volume_settled(conn, volume.id, what=what, timeout=timeout)
    _delete_and_wait(
        vol, lambda i: get_volume(conn, i), conn.block_storage.delete_volume, what=what, timeout=timeout
    )


def _delete_and_wait(obj, get, delete, *, what: str, timeout: float) -> None:
    """Delete a settled Cinder object (``None``: already gone) and wait until it is gone.

    :raises WorkloadError: it turned ``error_deleting`` or outlived ``timeout`` seconds.
    """
    if obj is None:
        return
    LOG.info("deleting %s %s (%s, status %s)", what, obj.name, obj.id, obj.status)
    call(delete, obj.id, ignore_missing=True)
    wait_until(
        lambda: get(obj.id),
        lambda o: o is None,
        failed=lambda o: f"status {o.status}" if o.status == "error_deleting" else None,
        what=f"{what} {obj.id} deleted",
        timeout=timeout,
    )


# -- snapshots -------------------------------------------------------------------------------------


def get_snapshot(conn, snapshot_id: str):
    """The volume snapshot, or None."""
    try:
        return call(conn.block_storage.get_snapshot, snapshot_id)
    except sdk_exc.NotFoundException:
        return None


def snapshots_named(conn, name: str) -> list:
    """Volume snapshots of the project with exactly this name (client-side filter)."""
    return [s for s in call(lambda: list(conn.block_storage.snapshots(details=True))) if s.name == name]


def wait_snapshot(conn, snapshot_id: str, *, what: str, timeout: float, side: str | None = None):
    """Wait until the snapshot is no longer ``creating`` (or gone); the caller reads the outcome.

    :param side: as in :func:`wait_volume`.
    :returns: the snapshot (``available``, ``error``...), or None if it disappeared.
    """
    label = f"{what} ({snapshot_id}) created"
    return wait_until(
        lambda: get_snapshot(conn, snapshot_id),
        lambda s: s is None or s.status != "creating",
        what=label,
        timeout=timeout,
        pending=(
            Pending("snapshot", snapshot_id, ("available",), SNAPSHOT_FAILURES, side, label, timeout)
            if side
            else None
        ),
    )


def delete_snapshot(conn, snapshot, *, what: str, timeout: float = 300.0) -> None:
    """Delete a volume snapshot and wait until it is gone."""
    snap = wait_until(
        lambda: get_snapshot(conn, snapshot.id),
        lambda s: s is None or s.status not in ("creating", "deleting"),
        what=f"{what} {snapshot.id} settled",
        timeout=timeout,
    )
    _delete_and_wait(
        snap, lambda i: get_snapshot(conn, i), conn.block_storage.delete_snapshot, what=what, timeout=timeout
    )


# -- images ----------------------------------------------------------------------------------------


def get_image(conn, image_id: str):
    """The Glance image, or None."""
    try:
        return call(conn.image.get_image, image_id)
    except sdk_exc.NotFoundException:
        return None


def own_images_named(conn, name: str) -> list:
    """Images owned by the connection's project with exactly this name."""
    return list(call(lambda: list(conn.image.images(owner=conn.current_project_id, name=name))))


def wait_image_active(
    conn,
    image_id: str,
    *,
    what: str,
    timeout: float,
    error: type[WorkloadError] = WorkloadError,
    side: str | None = None,
):
    """Wait until the image is ``active``; fail if it is killed/deleted/deactivated.

    :param side: as in :func:`wait_volume`.
    """
    label = f"{what} ({image_id}) active"
    return wait_until(
        lambda: get_image(conn, image_id),
        lambda i: i is not None and i.status == "active",
        failed=lambda i: f"status {i.status}" if i.status in IMAGE_FAILURES else None,
        what=label,
        timeout=timeout,
        error=error,
        pending=Pending("image", image_id, ("active",), tuple(IMAGE_FAILURES), side, label, timeout)
        if side
        else None,
    )


def delete_image(conn, image, *, what: str) -> None:
    """Delete an image (no wait: Glance deletes synchronously)."""
    LOG.info("deleting %s %s (%s, status %s)", what, image.name, image.id, image.status)
    call(conn.image.delete_image, image.id, ignore_missing=True)


# -- servers ---------------------------------------------------------------------------------------


def get_server(conn, server_id: str):
    """The server, or None."""
    try:
        return call(conn.compute.get_server, server_id)
    except sdk_exc.NotFoundException:
        return None


def servers_named(conn, name: str) -> list:
    """Servers of the project with exactly this name (Nova's name filter is a regex)."""
    return [s for s in call(lambda: list(conn.compute.servers(details=True))) if s.name == name]


def wait_server(
    conn,
    server_id: str,
    status: str,
    *,
    what: str,
    timeout: float = 600.0,
    error: type[WorkloadError] = WorkloadError,
    side: str | None = None,
):
    """Wait until the server has ``status`` (and no task in progress); fail on ERROR.

    :param side: as in :func:`wait_volume`.
    """
    label = f"{what} ({server_id}) {status}"
    failures = ("ERROR",) if status != "ERROR" else ()

    def failed(s):
        if s.status == "ERROR" and status != "ERROR":
            fault = (getattr(s, "fault", None) or {}).get("message", "")
            return f"status ERROR {fault}".strip()
        return None

    return wait_until(
        lambda: get_server(conn, server_id),
        lambda s: s is not None and s.status == status and not s.task_state,
        failed=failed,
        what=label,
        timeout=timeout,
        error=error,
        pending=Pending("server", server_id, (status,), failures, side, label, timeout) if side else None,
    )


def wait_server_gone(conn, server_id: str, *, what: str, timeout: float = 300.0) -> None:
    """Wait (openstacksdk ``wait_for_delete``) until the server no longer exists.

    :raises WorkloadError: it still exists after ``timeout`` seconds.
    """
    server = get_server(conn, server_id)
    if server is None:
        return
    try:
        conn.compute.wait_for_delete(server, interval=2, wait=int(timeout))
    except sdk_exc.ResourceTimeout as e:
        raise WorkloadError(f"{what} ({server_id}) deleted: still there after {timeout:.0f} s") from e
