"""Applying a plan to the destination, and the one-call :func:`import_resources`.

Import is validate -> plan -> apply. Validation and planning only read, so invalid data or a
conflict stops the run before the first write. ``dry_run`` stops after the plan.

Apply writes concurrently (:func:`apply_plan`): bulk creates where the API takes a list body
(Neutron networks, subnets, security groups and their rules), a bounded pool of writer threads for
the rest, keystoneauth retries on 429/503 (:func:`os_migrate.cloud.set_retries`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from os_migrate.cloud import check_connection, set_retries
from os_migrate.dataset import location, resolve_types
from os_migrate.exceptions import ApplyError, OsMigrateError, ValidationError
from os_migrate.filters import Filters
from os_migrate.plan import CREATE, MAIN_PHASE, UPDATE, Action, count_actions, make_plan, write_plan
from os_migrate.references import RefIndex
from os_migrate.resources import REGISTRY, RESOURCE_CLASSES, RESOURCE_TYPES, Resource, import_chains
from os_migrate.resources.quota import QUOTA_MODES
from os_migrate.validation import collect_errors

if TYPE_CHECKING:
    from openstack.connection import Connection

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSource:
    """Where resources that carry data (images) read it from.

    :param conn: the source cloud connection, or None.
    :param data_dir: the data dir (staged data files are relative to it).
    """

    conn: Connection | None
    data_dir: str


#: Default number of write requests in flight at once (``import_resources(concurrency=...)``,
#: CLI ``--concurrency``, DAG param ``import_concurrency``). Neutron serves a request per API
#: thread (the devcloud's one worker runs 8), and requests' connection pool keeps 10 per host.
DEFAULT_CONCURRENCY = 8
#: Most resources in one bulk create request.
BULK_SIZE = 100

_WRITE_ERRORS = (sdk_exc.SDKException, ksa_exc.ClientException, OsMigrateError, OSError)


def _apply_one(conn: Connection, refs: RefIndex, action: Action, source: DataSource | None) -> None:
    res = action.resource
    if action.phase != MAIN_PHASE:
        res.apply_deferred(conn, refs, action.changes)
    elif action.action == CREATE:
        res.create(conn, refs, source=source)
    elif action.action == UPDATE:
        if action.existing is None:
            raise ApplyError([f"{res.describe()}: update planned without a destination twin"])
        res.update(conn, action.existing, action.changes, refs, source=source)


def _bulk_refused(exc: BaseException) -> bool:
    """The destination does not take list bodies for this type (as opposed to refusing a record):
    Neutron answers 400 "Bulk operation not supported"; other APIs 404, 405 or 501."""
    if isinstance(exc, (NotImplementedError, sdk_exc.MethodNotSupported)):
        return True
    status = getattr(exc, "status_code", None)
    return status in (404, 405, 501) or (status == 400 and "bulk" in str(exc).lower())


def plan_chains(plan: Iterable[Action]) -> list[list[list[Action]]]:
    """The ``create``/``update`` actions of ``plan`` as independent chains of steps.

    A step holds the actions of one type (or the deferred actions applied after a type, e.g.
    router routes after the router interfaces); the steps of a chain run in dependency order,
    chains (:func:`~os_migrate.resources.import_chains`: types that never reference each other)
    side by side.
    """
    main: dict[str, list[Action]] = {}
    after: dict[str, list[Action]] = {}
    for a in plan:
        if a.action not in (CREATE, UPDATE):
            continue
        if a.phase == MAIN_PHASE:
            main.setdefault(a.type_key, []).append(a)
        else:
            after.setdefault(REGISTRY[a.type_key].deferred_until or a.type_key, []).append(a)
    chains = []
    for chain in _ALL_CHAINS:
        steps = [s for key in chain for s in (main.get(key), after.get(key)) if s]
        if steps:
            chains.append(steps)
    return chains


_ALL_CHAINS = import_chains(RESOURCE_CLASSES)


class _Applier:
    """Runs the steps of a plan's chains on a bounded pool of writer threads."""

    def __init__(
        self,
        conn: Connection,
        refs: RefIndex,
        source: DataSource | None,
        pool: ThreadPoolExecutor,
        order: Mapping[int, int],
        bulk_size: int,
    ):
        self.conn, self.refs, self.source, self.pool = conn, refs, source, pool
        self.order, self.bulk_size = order, bulk_size
        self.errors: list[tuple[int, str]] = []
        self.refused: set[str] = set()
        self._lock = threading.Lock()

    # -- outcome of one action
    def done(self, action: Action, how: str = "") -> None:
        LOG.info("%s: done", f"{action.action} {action.resource.describe()}{how}")

    def fail(self, action: Action, exc: BaseException) -> None:
        what = f"{action.action} {action.resource.describe()}"
        LOG.error("%s: failed: %s", what, exc)
        with self._lock:
            self.errors.append(
                (self.order[id(action)], f"{location(action.resource)}: {action.action} failed: {exc}")
            )

    # -- tasks run by the pool
    def run_serial(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                _apply_one(self.conn, self.refs, action, self.source)
                self.done(action)
            except _WRITE_ERRORS as e:
                self.fail(action, e)

    def finish(self, action: Action, obj: Any) -> None:
        try:
            action.resource.created(self.conn, self.refs, obj)
            self.done(action, " (bulk)")
        except _WRITE_ERRORS as e:
            self.fail(action, e)

    def bulk_chunk(self, actions: list[Action]) -> tuple[list[tuple[Action, Any]], list[Action]]:
        """One bulk request for ``actions``; returns ``(created, to retry one by one)``."""
        cls = REGISTRY[actions[0].type_key]
        bodies, ready = [], []
        for action in actions:
            try:
                bodies.append(action.resource.create_body(self.refs))
                ready.append(action)
            except _WRITE_ERRORS as e:
                self.fail(action, e)
        if len(ready) < 2 or cls.type_key in self.refused:
            return [], ready
        try:
            objs = cls.bulk_create_sdk(self.conn, bodies)
        except (sdk_exc.SDKException, ksa_exc.ClientException, NotImplementedError) as e:
            status = getattr(e, "status_code", None)
            if _bulk_refused(e):
                with self._lock:
                    self.refused.add(cls.type_key)
                LOG.info("%s: the destination refuses bulk creates (%s); one request each", cls.type_key, e)
            elif status is not None and 400 <= status < 500:
                # Neutron applies a bulk request in one transaction: nothing was created, and the
                # one-by-one creates name the record the API refuses.
                LOG.info("%s: bulk create of %d refused (%s); one request each", cls.type_key, len(ready), e)
            else:
                # 5xx or no answer: the request may have been applied, so no blind retry (a
                # re-run plans against what exists).
                for action in ready:
                    self.fail(action, e)
                return [], []
            return [], ready
        if len(objs) != len(ready):
            error = ApplyError([f"{cls.type_key}: bulk create returned {len(objs)} of {len(ready)}"])
            for action in ready:
                self.fail(action, error)
            return [], []
        return list(zip(ready, objs)), []

    # -- scheduling
    def _submit_singles(self, actions: list[Action]) -> list[Future]:
        groups: dict[Any, list[Action]] = {}
        for action in actions:
            key = action.resource.serial_key() if action.phase == MAIN_PHASE else None
            groups.setdefault(key if key is not None else ("alone", id(action)), []).append(action)
        return [self.pool.submit(self.run_serial, group) for group in groups.values()]

    def _prepare(self, cls: type[Resource], actions: list[Action]) -> list[Action]:
        """Run the type's :meth:`~os_migrate.resources.base.Resource.prepare_creates` (on the
        pool); returns the actions left to run."""
        creates = [a for a in actions if a.action == CREATE]
        if not creates:
            return actions
        resources = [a.resource for a in creates]
        errors = self.pool.submit(
            cls.prepare_creates, self.conn, self.refs, resources, self.bulk_size
        ).result()
        for i, exc in errors.items():
            self.fail(creates[i], exc)
        failed = {id(creates[i]) for i in errors}
        return [a for a in actions if id(a) not in failed]

    def run_step(self, actions: list[Action]) -> None:
        cls = REGISTRY[actions[0].type_key]
        bulk: list[Action] = []
        if actions[0].phase == MAIN_PHASE and cls.bulk and cls.type_key not in self.refused:
            bulk = [a for a in actions if a.action == CREATE]
            if len(bulk) < 2:
                bulk = []
        in_bulk = {id(a) for a in bulk}
        singles = [a for a in actions if id(a) not in in_bulk]
        if actions[0].phase == MAIN_PHASE:
            singles = self._prepare(cls, singles)
        futures = self._submit_singles(singles)
        by_key: dict[Any, list[Action]] = {}
        for action in bulk:
            by_key.setdefault(action.resource.bulk_key(), []).append(action)
        chunks = [
            group[i : i + self.bulk_size]
            for group in by_key.values()
            for i in range(0, len(group), self.bulk_size)
        ]
        for chunk_future in [self.pool.submit(self.bulk_chunk, chunk) for chunk in chunks]:
            created, retry = chunk_future.result()
            futures += [self.pool.submit(self.finish, action, obj) for action, obj in created]
            futures += self._submit_singles(retry)
        for future in futures:
            future.result()

    def run_chain(self, steps: list[list[Action]]) -> None:
        for step in steps:
            self.run_step(step)


def apply_plan(
    conn: Connection,
    refs: RefIndex,
    plan: list[Action],
    source: DataSource | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    bulk_size: int = BULK_SIZE,
) -> None:
    """Perform the ``create`` and ``update`` actions of ``plan``.

    Types run in dependency order within each chain of :func:`plan_chains`, chains side by side.
    Within a type, creates of a :attr:`~os_migrate.resources.base.Resource.bulk` type go in
    list requests of up to ``bulk_size`` (one request per resource when the destination refuses
    the list, or refuses a record of it, so the error names the record); every other write is one
    task, and tasks run on ``concurrency`` threads sharing ``conn`` (a keystoneauth session is
    shared by threads, as openstacksdk's own ``project_cleanup`` does), except resources with the
    same :meth:`~os_migrate.resources.base.Resource.serial_key`, which go one after the other.
    ``concurrency=1`` writes one request at a time.

    A failed resource does not stop the others (resources depending on it fail in turn with an
    unresolved reference).

    :raises ValueError: ``concurrency`` or ``bulk_size`` below 1.
    :raises ApplyError: listing every failed resource with the API's message, in plan order.
    """
    if concurrency < 1 or bulk_size < 1:
        raise ValueError(f"concurrency ({concurrency}) and bulk_size ({bulk_size}) must be at least 1")
    order = {id(a): i for i, a in enumerate(plan)}
    chains = plan_chains(plan)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="os-migrate-write") as pool:
        applier = _Applier(conn, refs, source, pool, order, bulk_size)
        if len(chains) == 1:
            applier.run_chain(chains[0])
        elif chains:
            # chain threads only submit to the pool and wait: writes stay bounded by the pool
            with ThreadPoolExecutor(len(chains), thread_name_prefix="os-migrate-chain") as outer:
                for future in [outer.submit(applier.run_chain, chain) for chain in chains]:
                    future.result()
    if applier.errors:
        raise ApplyError([message for _, message in sorted(applier.errors)])


#: Known run options and their allowed values (None: any string).
RUN_OPTIONS: dict[str, tuple[str, ...] | None] = {"quota_mode": QUOTA_MODES, "user_password": None}


def option_errors(options: Mapping[str, Any] | None) -> list[str]:
    """Errors of unknown run options or values (never echoing a password)."""
    errors = []
    for key, value in (options or {}).items():
        allowed = RUN_OPTIONS.get(key, ())
        if key not in RUN_OPTIONS:
            errors.append(f"options.{key}: unknown option (known: {', '.join(RUN_OPTIONS)})")
        elif value is not None and not isinstance(value, str):
            errors.append(f"options.{key}: must be a string")
        elif value is not None and allowed is not None and value not in allowed:
            errors.append(f"options.{key}: {value!r} is not one of {', '.join(allowed)}")
    return errors


def import_resources(
    conn: Connection,
    data_dir: str | Path,
    *,
    types: Iterable[str] | str | None = None,
    filters: Mapping[str, object] | None = None,
    dry_run: bool = False,
    src_conn: Connection | None = None,
    options: Mapping[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> dict:
    """Import staged resources into the destination project of ``conn``.

    :param conn: destination ``openstack.connection.Connection``.
    :param data_dir: folder holding ``<type>.yml`` files.
    :param types: type keys to import (default all), imported in dependency order.
    :param filters: per-type name filters (see :mod:`os_migrate.filters`).
    :param dry_run: plan only; no write request is made.
    :param src_conn: source connection, needed to stream image data unless it was staged.
    :param options: run options of the admin types: ``quota_mode`` (``copy``, ``keep`` or
        ``raise``, see :mod:`os_migrate.resources.quota`) and ``user_password`` (initial password
        of created users; held in memory only, never written or logged).
    :param concurrency: most write requests in flight at once (see :func:`apply_plan`).
    :returns: ``{"dry_run": bool, "counts": {"create"|"update"|"unchanged"|"skip": int},
        "plan_files": {type: path}, "actions": [{"type", "name", "action", "changes"?}, ...]}``
        (``actions`` lists everything but ``unchanged``).
    :raises ValidationError: the data, filters or references are invalid (nothing written).
    :raises CloudError: the destination is unreachable or refuses the credentials.
    :raises ApplyError: some writes failed (the rest were done).
    """
    if concurrency < 1:
        raise ValidationError([f"concurrency: must be at least 1, not {concurrency}"])
    types = resolve_types(types)
    flt = Filters(filters, RESOURCE_TYPES)
    check_connection(conn)
    refs = RefIndex(conn)
    checked = collect_errors(data_dir, types=types, filters=filters, conn=conn, refs=refs, dry_run=dry_run)
    if checked.errors:
        raise ValidationError(checked.errors)
    errors = option_errors(options)
    if errors:
        raise ValidationError(errors)
    for resources in checked.all_data.values():
        for res in resources:
            res.run_options = dict(options or {})
    plan = make_plan(conn, refs, checked.all_data, types, flt, data_dir)
    plan_files = write_plan(data_dir, plan, types, dry_run)
    for a in plan:
        if a.action in (CREATE, UPDATE):
            LOG.debug("plan: %s %s %r %s", a.action, a.type_key, a.identity, a.changes or "")
    if not dry_run:
        set_retries(conn)
        if src_conn is not None:
            set_retries(src_conn)
        # The plan listed every type, so the destination's proxies exist before the writer
        # threads start (openstacksdk builds a proxy on first use, unlocked); the source's image
        # proxy is built here for the same reason.
        if src_conn is not None and any(
            a.action == CREATE and REGISTRY[a.type_key].needs_source for a in plan
        ):
            _ = src_conn.image
        apply_plan(conn, refs, plan, DataSource(src_conn, str(data_dir)), concurrency=concurrency)
    return {
        "dry_run": dry_run,
        "counts": count_actions(plan),
        "plan_files": plan_files,
        "actions": [a.to_dict() for a in plan if a.action != "unchanged"],
    }
