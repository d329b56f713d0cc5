"""Property: whatever a user does to a valid data dir, import either refuses it before any write or
imports it completely; it never stops at an API error after a write.

Hypothesis mutates the small valid data set of :mod:`tests.unit.mistakes` (values of fields,
removed fields, added, copied and removed records, added known mistakes, whole files replaced by
random bytes or cut short) and imports it into a dedicated empty project (``osm-prop``, created
with its member user by the devcloud admin, cleaned after every example that wrote something).
Outcomes:

- ``refused``: :class:`~os_migrate.ValidationError`, and the project's listing is unchanged;
- ``imported``: no error, and a dry-run re-import plans no create (everything is there);
- anything else (an :class:`~os_migrate.ApplyError`, an SDK error) fails the test.

Bounds (CI): ``OSM_PROPERTY_EXAMPLES`` examples (default 100, about 80 s on the devcloud) and a wall-clock budget of
``OSM_PROPERTY_BUDGET`` seconds (default 180) after which the remaining examples are not run.

Replay: the run is derandomized (the same examples in every run), so a CI failure replays by
running this file again; hypothesis also prints the failing example and a
``@reproduce_failure(...)`` line to paste above the test. To explore other examples run with
``OSM_PROPERTY_SEED=<int>`` (printed in the figures line) -- the same seed replays them.
"""

from __future__ import annotations

import copy
import os
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path

import openstack.connection
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import sample_tenant
from os_migrate import ApplyError, ValidationError, import_resources
from os_migrate.serialization import write_resources
from tests.integration.conftest import connect
from tests.integration.test_validation_before_write import snapshot
from tests.unit.mistakes import MISTAKES, VALID

PROJECT, USER = "osm-prop", "osm-prop-user"
EXAMPLES = int(os.environ.get("OSM_PROPERTY_EXAMPLES", "100"))
BUDGET = float(os.environ.get("OSM_PROPERTY_BUDGET", "180"))
SEED = os.environ.get("OSM_PROPERTY_SEED")

#: Values a mutation puts into a field: plausible-but-wrong ones first, then anything.
INTERESTING = [
    None,
    "",
    " ",
    "x" * 256,
    "10.61.0.0/24",
    "10.61.0.5/24",
    "10.61.0.300",
    "10.61.0.0/16",
    "10.61.0.128/25",
    "fd00::/64",
    "fd00::1",
    "10.61.0.1",
    "10.61.0.255",
    "10.62.0.1",
    "0.0.0.0/0",
    0,
    -1,
    1,
    4,
    6,
    255,
    65535,
    65536,
    True,
    False,
    "tcp",
    "udp",
    "icmp",
    "ipv6-icmp",
    "gre",
    "any",
    "6",
    "300",
    "IPv4",
    "IPv6",
    "ingress",
    "egress",
    "fa:16:3e:00:00:01",
    "ssh-rsa AAAA",
    "caf\u00e9",
    "a/b",
    "prop-net",
    "prop-subnet",
    "prop-web",
    "prop-router",
    "default",
    [],
    {},
    ["10.61.0.2"],
    ["10.61.0.2", "10.61.0.2"],
    [{"start": "10.61.0.5", "end": "10.61.0.6"}],
    [{"start": "10.61.0.1", "end": "10.61.0.9"}],
    [{"destination": "0.0.0.0/0", "nexthop": "10.61.0.1"}],
    {"name": "public"},
    {"name": "prop-net", "project_name": "%auth%", "domain_name": "%auth%"},
    {"name": "nowhere", "project_name": "%auth%", "domain_name": "%auth%"},
]
VALUES = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(max_size=12),
    st.integers(min_value=-2, max_value=70000),
)
TYPE_KEYS = sorted(VALID)


def _leaves(value, path=()):
    """Paths of every value inside ``value`` (dict keys and list indexes)."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))


@st.composite
def mutation(draw, data: dict):
    """Apply one random mutation to ``data`` (``{type_key: [record, ...]}`` or raw ``bytes``);
    returns its description."""
    kind = draw(st.sampled_from(["set", "set", "set", "delete", "add", "copy", "drop", "mistake", "file"]))
    type_key = draw(st.sampled_from(TYPE_KEYS))
    records = data[type_key]
    if isinstance(records, bytes) or kind == "file":
        text = (
            yaml.safe_dump({"os_migrate_version": 1, "resources": records})
            if isinstance(records, list)
            else ""
        )
        how = draw(st.sampled_from(["bytes", "cut"]))
        if how == "bytes" or not text:
            data[type_key] = draw(st.binary(max_size=40))
        else:
            data[type_key] = text[: draw(st.integers(0, len(text)))].encode()
        return f"{type_key}.yml: file {how}"
    if kind == "mistake":
        choices = [m for m in MISTAKES if m.record is not None and isinstance(data.get(m.type_key), list)]
        if not choices:
            return "nothing"
        m = draw(st.sampled_from(choices))
        data[m.type_key].append(copy.deepcopy(m.record))
        return f"mistake {m.id}"
    if not records:
        return "nothing"
    i = draw(st.integers(0, len(records) - 1))
    if kind == "drop":
        del records[i]
        return f"{type_key}[{i}] removed"
    if kind in ("add", "copy"):
        new = copy.deepcopy(records[i])
        if kind == "add" and "name" in new["params"]:
            new["params"]["name"] = draw(st.sampled_from(["prop-b", "prop-c", new["params"]["name"]]))
        records.append(new)
        return f"{type_key}[{i}] {kind}"
    paths = [p for p in _leaves(records[i]["params"]) if p]
    if not paths:
        return "nothing"
    path = draw(st.sampled_from(paths))
    target = records[i]["params"]
    for k in path[:-1]:
        target = target[k]
    if kind == "delete":
        if isinstance(target, dict):
            del target[path[-1]]
        else:
            target.pop(path[-1])
        return f"{type_key}[{i}].{'.'.join(map(str, path))} deleted"
    value = draw(VALUES)
    target[path[-1]] = value
    return f"{type_key}[{i}].{'.'.join(map(str, path))} = {value!r}"


@pytest.fixture(scope="module")
def prop_conn():
    """A tenant connection (member role) to the dedicated project ``osm-prop`` of cloud 1."""
    admin = connect("devcloud-admin")
    ident = admin.identity
    domain = ident.find_domain("Default")
    project = ident.find_project(PROJECT, domain_id=domain.id) or ident.create_project(
        name=PROJECT, domain_id=domain.id, description="os-migrate property test (emptied after each example)"
    )
    password = secrets.token_urlsafe(16)
    user = ident.find_user(USER, domain_id=domain.id)
    if user is None:
        user = ident.create_user(
            name=USER, domain_id=domain.id, password=password, default_project_id=project.id
        )
    else:
        ident.update_user(user, password=password)
    ident.assign_project_role_to_user(project, user, ident.find_role("member"))
    auth = {
        "auth_url": admin.config.auth["auth_url"],
        "username": USER,
        "password": password,
        "project_name": PROJECT,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    conn = openstack.connection.Connection(
        auth_type="password", auth=auth, region_name=admin.config.region_name
    )
    wipe(conn)
    yield conn
    wipe(conn)


def wipe(conn) -> None:
    """Empty the project (networking, server groups, keypairs of its user, images)."""
    sample_tenant.clean(conn)
    for kp in list(conn.compute.keypairs()):
        conn.compute.delete_keypair(kp, ignore_missing=True)
    for image in list(conn.image.images(owner=conn.current_project_id)):
        conn.image.delete_image(image, ignore_missing=True)


def test_import_is_refused_before_any_write_or_completes(prop_conn, report_figure):
    outcomes: Counter[str] = Counter()
    tried: list[int] = [0]
    start = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def check(data):
        if time.monotonic() - start > BUDGET:
            outcomes["not run (budget)"] += 1
            return
        dataset = copy.deepcopy(VALID)
        done = [data.draw(mutation(dataset), label="mutation") for _ in range(data.draw(st.integers(1, 3)))]
        tried[0] += len(done)
        with tempfile.TemporaryDirectory() as tmp:
            for type_key, content in dataset.items():
                path = Path(tmp) / f"{type_key}.yml"
                if isinstance(content, bytes):
                    path.write_bytes(content)
                else:
                    write_resources(path, content)
            before = snapshot(prop_conn)
            try:
                import_resources(prop_conn, tmp)
            except ValidationError:
                outcomes["refused before any write"] += 1
                assert snapshot(prop_conn) == before, f"written despite the refusal: {done}"
                return
            except ApplyError as e:
                wipe(prop_conn)
                pytest.fail(f"API error after a write for mutations {done}: {e}")
            try:
                again = import_resources(prop_conn, tmp, dry_run=True)
                assert again["counts"].get("create", 0) == 0, f"incomplete import for {done}: {again}"
                outcomes["imported completely"] += 1
            finally:
                wipe(prop_conn)

    if SEED is not None:
        check = seed(int(SEED))(check)
    check()
    elapsed = time.monotonic() - start
    figures = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    report_figure(
        f"import property test: {sum(outcomes.values())} data dirs, {tried[0]} mutations tried, {figures} "
        f"({elapsed:.0f} s, seed {'derandomized' if SEED is None else SEED})"
    )
    assert outcomes["refused before any write"] + outcomes["imported completely"] > 0
