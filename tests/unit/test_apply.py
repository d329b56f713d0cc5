"""apply_plan: bulk creates, their fallback, errors per record, and the bounded writer pool.

A :class:`FakeNeutron` stands in for ``conn.network`` (the pip-tools ``FakeRepository`` idea): it
keeps what was created, counts every request it is sent (a bulk request counts once) and records
how many were in flight at once. The real :class:`~os_migrate.references.RefIndex` resolves names
through it, so the thread-safety of the index is exercised too.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from openstack import exceptions as sdk_exc

from os_migrate.apply import apply_plan, plan_chains
from os_migrate.exceptions import ApplyError
from os_migrate.plan import CREATE, Action
from os_migrate.references import RefIndex, make_ref
from os_migrate.resources import REGISTRY

PROJECT = "proj-1"


def _http_error(cls, status, message):
    exc = cls(message=message)
    exc.status_code = status  # as raise_from_response sets it from the response
    return exc


def _bad_request(message):
    return _http_error(sdk_exc.BadRequestException, 400, message)


class FakeNeutron:
    """The network proxy's verbs the import uses, over in-memory objects.

    :param refuse_bulk: answer every list body like a Neutron without bulk support (400).
    :param bad_names: names the API refuses (400 naming the field), alone or inside a list.
    :param bulk_error: raise this on every list body instead (e.g. a 500).
    :param delay: seconds each request takes (to observe concurrency).
    """

    def __init__(self, *, refuse_bulk=False, bad_names=(), bulk_error=None, delay=0.0):
        self.refuse_bulk, self.bad_names, self.bulk_error, self.delay = (
            refuse_bulk,
            set(bad_names),
            bulk_error,
            delay,
        )
        self.objects: dict[str, dict[str, SimpleNamespace]] = {}
        self.requests: Counter[str] = Counter()
        self.in_flight = self.max_in_flight = 0
        self.router_in_flight: Counter[str] = Counter()
        self.router_overlap = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- bookkeeping
    def _request(self, key):
        with self._lock:
            self.requests[key] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1

    def _new(self, kind, body):
        if body.get("name") in self.bad_names:
            raise _bad_request(f"Invalid input for name. Reason: {body['name']!r} is not allowed.")
        obj = SimpleNamespace(id=f"{kind}-{next(self._ids)}", project_id=PROJECT, **body)
        if kind == "security_group":
            obj.security_group_rules = [{"id": f"default-{obj.id}-{i}"} for i in range(2)]
        if kind == "subnet":
            obj.gateway_ip = body.get("gateway_ip")
        self.objects.setdefault(kind, {})[obj.id] = obj
        return obj

    def names(self, kind):
        return sorted(getattr(o, "name", None) or o.id for o in self.objects.get(kind, {}).values())

    # -- lists (RefIndex)
    def networks(self, **query):
        self._request("GET networks")
        return (
            []
            if query.get("is_router_external") or query.get("is_shared")
            else list(self.objects.get("network", {}).values())
        )

    def subnets(self, **query):
        self._request("GET subnets")
        return list(self.objects.get("subnet", {}).values())

    def routers(self, **query):
        self._request("GET routers")
        return list(self.objects.get("router", {}).values())

    def security_groups(self, **query):
        self._request("GET security_groups")
        return list(self.objects.get("security_group", {}).values())

    # -- writes
    def _bulk_create(self, sdk_cls, bodies):
        kind = sdk_cls.resource_key
        self._request(f"POST {kind}s (bulk)")
        if self.bulk_error is not None:
            raise self.bulk_error
        if self.refuse_bulk:
            raise _bad_request("Bulk operation not supported")
        if kind == "security_group_rule" and len({b["security_group_id"] for b in bodies}) > 1:
            raise _bad_request("Only allowed to update rules for one security profile at a time")
        if any(b.get("name") in self.bad_names for b in bodies):
            raise _bad_request("Invalid input for name.")  # Neutron does not say which item
        return iter([self._new(kind, b) for b in bodies])

    def _create(self, kind, body):
        self._request(f"POST {kind}s")
        return self._new(kind, body)

    def create_network(self, **body):
        return self._create("network", body)

    def create_subnet(self, **body):
        return self._create("subnet", body)

    def create_security_group(self, **body):
        return self._create("security_group", body)

    def create_security_group_rule(self, **body):
        return self._create("security_group_rule", body)

    def create_port(self, **body):
        return self._create("port", body)

    def delete_security_group_rule(self, rule_id, ignore_missing=True):
        self._request("DELETE security_group_rules")

    def delete_port(self, port, ignore_missing=True):
        self._request("DELETE ports")

    def add_interface_to_router(self, router_id, subnet=None, port=None):
        with self._lock:
            self.router_in_flight[router_id] += 1
            self.router_overlap |= self.router_in_flight[router_id] > 1
        try:
            self._request("PUT add_router_interface")
            self.objects.setdefault("interface", {})[f"{router_id}/{subnet or port}"] = SimpleNamespace(
                id=f"{router_id}/{subnet or port}"
            )
        finally:
            with self._lock:
                self.router_in_flight[router_id] -= 1


def connection(neutron):
    return SimpleNamespace(network=neutron, identity=None, current_project_id=PROJECT)


def resource(type_key, params, index):
    cls = REGISTRY[type_key]
    res = cls({"type": cls.type, "params": params})
    res.file, res.index = f"/data/{type_key}.yml", index
    return res


def creates(type_key, params_list):
    out = []
    for i, params in enumerate(params_list):
        res = resource(type_key, params, i)
        out.append(Action(type_key, res.identity, CREATE, res))
    return out


def networks(n, prefix="net"):
    return creates("networks", [{"name": f"{prefix}-{i}"} for i in range(n)])


def tenant_plan(n_nets=5, n_groups=3):
    plan = networks(n_nets)
    plan += creates(
        "subnets",
        [
            {"name": f"sub-{i}", "network": make_ref(f"net-{i}"), "cidr": f"10.0.{i}.0/24", "ip_version": 4}
            for i in range(n_nets)
        ],
    )
    plan += creates("security_groups", [{"name": f"sg-{i}"} for i in range(n_groups)])
    plan += creates(
        "security_group_rules",
        [
            {
                "security_group": make_ref(f"sg-{g}"),
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "tcp",
                "port_range_min": port,
                "port_range_max": port,
            }
            for g in range(n_groups)
            for port in (22, 443)
        ],
    )
    return plan


def apply(neutron, plan, **kw):
    conn = connection(neutron)
    apply_plan(conn, RefIndex(conn), plan, **kw)


def test_bulk_path_creates_each_type_in_one_request_and_drops_default_rules():
    neutron = FakeNeutron()

    apply(neutron, tenant_plan(n_nets=5, n_groups=3), concurrency=4)

    assert neutron.names("network") == [f"net-{i}" for i in range(5)]
    assert neutron.names("subnet") == [f"sub-{i}" for i in range(5)]
    assert len(neutron.objects["security_group_rule"]) == 6
    subnet_nets = {s.network_id for s in neutron.objects["subnet"].values()}
    assert subnet_nets == set(neutron.objects["network"])  # references resolved to the new ids
    writes = {k: n for k, n in neutron.requests.items() if not k.startswith("GET")}
    assert writes == {
        "POST networks (bulk)": 1,
        "POST subnets (bulk)": 1,
        "POST security_groups (bulk)": 1,
        "DELETE security_group_rules": 6,  # Neutron's two default egress rules of each new group
        "POST security_group_rules (bulk)": 3,  # Neutron takes one group's rules per request
    }


def test_bulk_requests_hold_at_most_bulk_size_resources():
    neutron = FakeNeutron()

    apply(neutron, networks(5), bulk_size=2)

    # 2 + 2 in list bodies; the fifth alone (a list of one saves nothing)
    assert neutron.requests["POST networks (bulk)"] == 2
    assert neutron.requests["POST networks"] == 1
    assert neutron.names("network") == [f"net-{i}" for i in range(5)]


def test_a_destination_refusing_bulk_gets_one_request_per_resource():
    neutron = FakeNeutron(refuse_bulk=True)

    apply(neutron, networks(5), bulk_size=2, concurrency=1)

    assert neutron.names("network") == [f"net-{i}" for i in range(5)]
    # refused once, then never asked again in this run
    assert neutron.requests["POST networks (bulk)"] == 1
    assert neutron.requests["POST networks"] == 5


def test_a_refused_record_is_named_with_file_and_field_and_the_others_are_created():
    neutron = FakeNeutron(bad_names={"net-3"})

    with pytest.raises(ApplyError) as err:
        apply(neutron, networks(5))

    assert err.value.errors == [
        "/data/networks.yml: resources[3] (openstack.network.Network 'net-3'): create failed: "
        "Invalid input for name. Reason: 'net-3' is not allowed."
    ]
    assert neutron.names("network") == ["net-0", "net-1", "net-2", "net-4"]
    assert neutron.requests["POST networks (bulk)"] == 1
    assert neutron.requests["POST networks"] == 5


def test_a_record_whose_reference_does_not_resolve_fails_alone():
    neutron = FakeNeutron()
    plan = networks(2)
    plan += creates(
        "subnets",
        [
            {"name": "sub-0", "network": make_ref("net-0"), "cidr": "10.0.0.0/24", "ip_version": 4},
            {"name": "sub-x", "network": make_ref("missing"), "cidr": "10.0.9.0/24", "ip_version": 4},
            {"name": "sub-1", "network": make_ref("net-1"), "cidr": "10.0.1.0/24", "ip_version": 4},
        ],
    )

    with pytest.raises(ApplyError) as err:
        apply(neutron, plan)

    assert len(err.value.errors) == 1
    assert err.value.errors[0].startswith(
        "/data/subnets.yml: resources[1] (openstack.network.Subnet 'sub-x')"
    )
    assert "network 'missing' not found" in err.value.errors[0]
    assert neutron.names("subnet") == ["sub-0", "sub-1"]
    assert neutron.requests["POST subnets (bulk)"] == 1


def test_a_server_error_on_bulk_is_not_retried_blindly():
    """A 5xx may come after Neutron applied the request: each record fails, none is re-sent."""
    neutron = FakeNeutron(bulk_error=_http_error(sdk_exc.HttpException, 500, "boom"))

    with pytest.raises(ApplyError) as err:
        apply(neutron, networks(3))

    assert [e.split(": create failed")[0] for e in err.value.errors] == [
        f"/data/networks.yml: resources[{i}] (openstack.network.Network 'net-{i}')" for i in range(3)
    ]
    assert neutron.requests["POST networks"] == 0


def router_plan(n_routers, per_router):
    neutron = FakeNeutron(delay=0.02)
    for r in range(n_routers):
        neutron.objects.setdefault("router", {})[f"router-{r}"] = SimpleNamespace(
            id=f"router-{r}", name=f"r{r}", project_id=PROJECT
        )
    plan = []
    for r in range(n_routers):
        for j in range(per_router):
            sid = f"subnet-{r}-{j}"
            neutron.objects.setdefault("subnet", {})[sid] = SimpleNamespace(
                id=sid, name=f"s{r}-{j}", project_id=PROJECT, gateway_ip="10.0.0.1", network_id="n"
            )
            ip = "10.0.0.1" if j else "10.0.0.5"  # the first one through a port
            plan += creates(
                "router_interfaces",
                [{"router": make_ref(f"r{r}"), "subnet": make_ref(f"s{r}-{j}"), "ip_address": ip}],
            )
    return neutron, plan


@pytest.mark.parametrize("concurrency", [1, 3])
def test_the_pool_is_bounded_and_interfaces_of_one_router_never_overlap(concurrency):
    neutron, plan = router_plan(n_routers=6, per_router=3)

    apply(neutron, plan, concurrency=concurrency)

    assert len(neutron.objects["interface"]) == 18
    assert neutron.max_in_flight == concurrency
    assert not neutron.router_overlap
    # the six ports of non-gateway interfaces: one bulk request
    assert neutron.requests["POST ports (bulk)"] == 1
    assert neutron.requests["POST ports"] == 0


def test_independent_chains_run_side_by_side_in_dependency_order():
    plan = tenant_plan(n_nets=2, n_groups=2)
    chains = plan_chains(plan)
    assert [[step[0].type_key for step in chain] for chain in chains] == [
        ["networks", "subnets"],
        ["security_groups", "security_group_rules"],
    ]


def test_concurrency_below_one_is_refused():
    with pytest.raises(ValueError, match="concurrency"):
        apply(FakeNeutron(), networks(1), concurrency=0)


def test_set_retries_covers_json_services_only_and_keeps_the_clouds_own_setting():
    from os_migrate.cloud import STATUS_CODE_RETRIES, set_retries

    def proxy(service_type, retries=None):
        return SimpleNamespace(service_type=service_type, status_code_retries=retries)

    proxies = {"network": proxy("network"), "image": proxy("image"), "compute": proxy("compute", 9)}
    conn = SimpleNamespace(config=SimpleNamespace(config={}), _proxies=proxies)

    set_retries(conn)

    assert proxies["network"].status_code_retries == STATUS_CODE_RETRIES
    assert proxies["compute"].status_code_retries == 9  # set by the cloud's config
    assert proxies["image"].status_code_retries is None  # uploads stream: never replayed
    assert conn.config.config == {
        "network_status_code_retries": STATUS_CODE_RETRIES,
        "compute_status_code_retries": STATUS_CODE_RETRIES,
        "identity_status_code_retries": STATUS_CODE_RETRIES,
    }
