"""Name filters per resource type.

A filter is a list whose items are exact names (strings) or ``{"regex": "<pattern>"}`` mappings, the
same vocabulary as OS Migrate's ``*_filter`` variables. So that a regex can be typed where only
strings fit (one line of a form's text area, a command-line option), a string item is a regex too
when it is written ``regex:<pattern>``, ``re:<pattern>`` or ``/<pattern>/`` (see
:func:`parse_filter_item`); blank string items are ignored. A resource is selected if any item
matches its name; regexes use :func:`re.search` semantics (anchor with ``^``/``$`` for a full
match). A type missing from the filters mapping, or mapped to ``None``, selects everything; an
empty list selects nothing.

Filters of parent types also select children: a router filter selects the router's interfaces and a
security group filter selects the group's rules (each class declares its ``parent``; see
:data:`os_migrate.resources.PARENT_FILTER`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from os_migrate.exceptions import DataError, ValidationError
from os_migrate.resources import PARENT_FILTER


@dataclass(frozen=True)
class NameFilter:
    """Compiled filter for one type: exact names plus compiled regexes."""

    names: frozenset[str] = frozenset()
    regexes: tuple[re.Pattern, ...] = field(default=())

    def matches(self, name: str | None) -> bool:
        """True if ``name`` equals one of the names or matches one of the regexes."""
        name = name or ""
        return name in self.names or any(r.search(name) for r in self.regexes)


#: Prefixes that make a string filter item a regex: ``regex:^app-`` or ``re:^app-``.
REGEX_PREFIXES = ("regex:", "re:")


def parse_filter_item(item: object) -> tuple[str, str] | None:
    """Classify one filter item as ``("name", text)`` or ``("regex", pattern)``.

    ``{"regex": p}``, ``"regex:p"``, ``"re:p"`` and ``"/p/"`` are regexes; any other string is an
    exact name. A blank string (an empty line of a form's text area) gives ``None``: no item.

    :raises TypeError: ``item`` is neither a string nor ``{"regex": str}``.
    """
    if isinstance(item, Mapping):
        if set(item) == {"regex"} and isinstance(item["regex"], str):
            return "regex", item["regex"]
        raise TypeError(item)
    if not isinstance(item, str):
        raise TypeError(item)
    if not item.strip():
        return None
    for prefix in REGEX_PREFIXES:
        if item.startswith(prefix):
            return "regex", item[len(prefix) :]
    if len(item) > 2 and item.startswith("/") and item.endswith("/"):
        return "regex", item[1:-1]
    return "name", item


def compile_filter(type_key: str, items: object) -> NameFilter | None:
    """Compile the filter list of one type; ``None`` means "select all".

    :param items: names and regexes in any form :func:`parse_filter_item` accepts.
    :raises DataError: an item is neither a string nor ``{"regex": str}``, or a regex is invalid;
        the message names ``filters.<type>[<index>]``.
    """
    if items is None:
        return None
    if not isinstance(items, list):
        raise DataError("must be a list of names or {regex: ...} items", field=f"filters.{type_key}")
    names: set[str] = set()
    regexes: list[re.Pattern] = []
    for i, item in enumerate(items):
        where = f"filters.{type_key}[{i}]"
        try:
            parsed = parse_filter_item(item)
        except TypeError:
            raise DataError(
                f"expected a name, 'regex:<pattern>' or {{regex: <pattern>}}, got {item!r}", field=where
            ) from None
        if parsed is None:
            continue
        kind, text = parsed
        if kind == "name":
            names.add(text)
            continue
        try:
            regexes.append(re.compile(text))
        except re.error as e:
            raise DataError(f"invalid regular expression {text!r}: {e}", field=where) from e
    return NameFilter(frozenset(names), tuple(regexes))


class Filters:
    """All filters of one run, compiled once.

    :param spec: ``{type_key: [name | {"regex": pattern}, ...]}``; ``None`` selects everything.
    :param known_types: type keys that may appear in ``spec``.
    :raises ValidationError: listing every bad item and unknown type key at once.
    """

    def __init__(self, spec: Mapping[str, object] | None, known_types: tuple[str, ...]):
        self._filters: dict[str, NameFilter | None] = {}
        errors = []
        if spec is not None and not isinstance(spec, Mapping):
            raise ValidationError([f"filters: must be a mapping of type to list, got {spec!r}"])
        for type_key, items in (spec or {}).items():
            if type_key not in known_types:
                errors.append(f"filters.{type_key}: unknown resource type (known: {', '.join(known_types)})")
                continue
            try:
                self._filters[type_key] = compile_filter(type_key, items)
            except DataError as e:
                errors.append(str(e))
        if errors:
            raise ValidationError(errors)

    def of(self, type_key: str) -> NameFilter | None:
        """The compiled filter of one type; None when the type is not filtered."""
        return self._filters.get(type_key)

    def selects(self, type_key: str, name: str | None, params: Mapping | None = None) -> bool:
        """True if a resource of ``type_key`` with ``name`` (and ``params``) is selected.

        For child types the parent's filter is applied to the parent reference's name in
        ``params`` as well.
        """
        own = self._filters.get(type_key)
        if own is not None and not own.matches(name):
            return False
        parent = PARENT_FILTER.get(type_key)
        if parent and params is not None:
            parent_type, ref_key = parent
            parent_filter = self._filters.get(parent_type)
            ref = params.get(ref_key) or {}
            if parent_filter is not None and not parent_filter.matches(ref.get("name")):
                return False
        return True
