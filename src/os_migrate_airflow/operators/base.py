"""The base of every OS Migrate operator: two clouds, one error mapping, one parser of rendered params.

* :class:`OsMigrateBaseOperator` -- ``data_dir``, ``src_conn_id`` and ``dst_conn_id`` (templated), and the
  source and destination openstacksdk Connections built lazily through
  :class:`~os_migrate_airflow.hooks.openstack.OpenStackHook` (no I/O in ``__init__``).
* :func:`core_errors` -- core errors to Airflow ones, on the error class's own ``retryable`` flag:
  retryable -> ``AirflowException`` (the task's ``retries`` apply; every core step is idempotent),
  otherwise -> ``AirflowFailException`` (the same input fails the same way). The core's message is
  kept and the original is chained. SDK exceptions propagate unchanged (they are retried).
* :func:`parse_param` -- a rendered template value as the native type the core expects. DAGs render
  with ``render_template_as_native_obj=True``, so values usually arrive native; strings (``"false"``,
  ``"['networks']"``, ``'{"networks": []}'``, ``"networks, subnets"``) are parsed too.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException

from os_migrate.exceptions import OsMigrateError
from os_migrate_airflow.hooks.openstack import OpenStackHook

if TYPE_CHECKING:
    from openstack.connection import Connection as SDKConnection

#: Default Airflow Connection ids of the two clouds.
DEFAULT_SRC_CONN_ID = "openstack_src"
DEFAULT_DST_CONN_ID = "openstack_dst"

_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    list: "a list",
    dict: "a mapping",
    str: "a string",
}


@contextmanager
def core_errors() -> Iterator[None]:
    """Re-raise an ``OsMigrateError`` as an Airflow exception chosen by its ``retryable`` flag."""
    try:
        yield
    except OsMigrateError as e:
        if e.retryable:
            raise AirflowException(str(e)) from e
        raise AirflowFailException(str(e)) from e


def parse_param(value: Any, name: str, kind: type, *, default: Any = None) -> Any:
    """Return a rendered param as ``kind`` (``bool``, ``int``, ``list``, ``dict`` or ``str``).

    ``None``, ``""`` and ``"None"`` give ``default``. A string is parsed as JSON, then as a Python
    literal (Jinja renders ``['a']``, ``True``); for ``list`` a plain ``"a, b"`` is split on commas.

    :param value: the rendered value.
    :param name: the argument's name, for the error message.
    :param kind: the expected type.
    :param default: what an empty value means.
    :raises AirflowFailException: the value is not of that kind (not retried).
    """
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if text in ("", "None", "null"):
            return default
        if kind is bool and text.lower() in ("true", "false"):
            return text.lower() == "true"
        parsed = _literal(text)
        if parsed is _UNPARSED and kind is list:
            parsed = [item.strip() for item in text.split(",") if item.strip()]
        value = value if parsed is _UNPARSED else parsed
    if value is None:
        return default
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if kind is dict and isinstance(value, Mapping):
        value = dict(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise AirflowFailException(f"{name} must be {_KINDS.get(kind, kind.__name__)}, got {value!r}")


def jsonable(value: Any) -> Any:
    """Copy of ``value`` that survives a JSON round trip (paths become strings), for XCom."""
    return json.loads(json.dumps(value, default=str))


_UNPARSED = object()


def _literal(text: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return _UNPARSED


class OsMigrateBaseOperator(BaseOperator):
    """Base of the OS Migrate operators: a data dir and the source and destination clouds.

    Subclasses call :meth:`param` for their own rendered arguments and wrap core calls in
    :func:`core_errors`; they use :attr:`src` and/or :attr:`dst`, built on first use.

    :param data_dir: the tenant's data dir of YAML files (templated).
    :param src_conn_id: Airflow Connection (conn_type ``openstack``) of the source cloud, ``None``
        if the operator does not read the source (templated).
    :param dst_conn_id: Airflow Connection of the destination cloud, ``None`` if the operator does
        not use the destination (templated).
    """

    template_fields: Sequence[str] = ("data_dir", "src_conn_id", "dst_conn_id")
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        data_dir: str,
        src_conn_id: str | None = DEFAULT_SRC_CONN_ID,
        dst_conn_id: str | None = DEFAULT_DST_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.src_conn_id = src_conn_id
        self.dst_conn_id = dst_conn_id

    @cached_property
    def src(self) -> SDKConnection:
        """Source openstacksdk Connection (built on first use).

        :raises AirflowFailException: ``src_conn_id`` is unset, undefined or invalid (not retried).
        """
        return self._connect(self.src_conn_id, "src_conn_id")

    @cached_property
    def dst(self) -> SDKConnection:
        """Destination openstacksdk Connection (built on first use).

        :raises AirflowFailException: ``dst_conn_id`` is unset, undefined or invalid (not retried).
        """
        return self._connect(self.dst_conn_id, "dst_conn_id")

    def param(self, name: str, kind: type, *, default: Any = None) -> Any:
        """This operator's rendered attribute ``name`` parsed by :func:`parse_param`."""
        return parse_param(getattr(self, name), name, kind, default=default)

    @staticmethod
    def _connect(conn_id: str | None, arg: str) -> SDKConnection:
        if not conn_id:
            raise AirflowFailException(f"{arg} is not set: name an Airflow Connection of conn_type openstack")
        try:
            return OpenStackHook(openstack_conn_id=str(conn_id)).get_conn()
        except AirflowNotFoundException as e:
            raise AirflowFailException(f"{e}: define it (conn_type openstack) or set another {arg}") from e
