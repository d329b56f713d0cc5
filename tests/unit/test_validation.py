"""Validation without a cloud: every mistake in a data set is reported at once."""

import textwrap

import pytest

from os_migrate import validate_data_dir
from os_migrate.dataset import resolve_types
from os_migrate.exceptions import ValidationError


def write(tmp_path, name, text):
    (tmp_path / name).write_text(textwrap.dedent(text))


def test_five_mistakes_one_report(tmp_path):
    write(
        tmp_path,
        "networks.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.Network
            params: {name: app}
          - type: openstack.network.Network
            params: {name: app}
          - type: openstack.network.Subnet
            params: {name: wrong-file}
        """,
    )
    write(
        tmp_path,
        "subnets.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.Subnet
            params:
              name: s1
              network: {name: nowhere, project_name: '%auth%', domain_name: '%auth%'}
              cidr: 10.0.0.0/24
              ip_version: 5
          - type: openstack.network.Subnet
            params:
              name: ''
              network: {name: app, project_name: '%auth%', domain_name: '%auth%'}
              cidr: 10.0.1.0/24
              ip_version: 4
        """,
    )
    write(tmp_path, "routers.yml", "os_migrate_version: 1\nresources:\n  - [broken\n")
    errors = validate_data_dir(tmp_path)
    text = "\n".join(errors)
    assert "duplicate networks identity 'app'" in text
    assert "type: expected 'openstack.network.Network' in networks.yml" in text
    assert "params.ip_version: 5 is not one of [4, 6]" in text
    assert "params.name: is required and must not be empty" in text
    assert "routers.yml: malformed YAML" in text
    # without a destination connection only the data set resolves references: 'nowhere' is not
    # in networks.yml, but with conn=None the destination is not consulted, so it is not an error
    assert len(errors) == 5, text
    for e in errors:
        assert str(tmp_path) in e


RULES_WITH_REMOTES = """\
os_migrate_version: 1
resources:
  - type: openstack.network.SecurityGroupRule
    params:
      security_group: {name: web, project_name: '%auth%', domain_name: '%auth%'}
      remote_group: {name: null, project_name: null, domain_name: null, id: abc}
      direction: ingress
      ether_type: IPv4
  - type: openstack.network.SecurityGroupRule
    params:
      security_group: {name: web, project_name: '%auth%', domain_name: '%auth%'}
      remote_address_group: {name: not-exported, project_name: '%auth%', domain_name: '%auth%'}
      direction: ingress
      ether_type: IPv4
  - type: openstack.network.SecurityGroupRule
    params:
      security_group: {name: web, project_name: '%auth%', domain_name: '%auth%'}
      remote_address_group: {name: null, project_name: null, domain_name: null, id: ag-1}
      direction: ingress
      ether_type: IPv4
  - type: openstack.network.SecurityGroupRule
    params:
      security_group: {name: web, project_name: '%auth%', domain_name: '%auth%'}
      remote_address_group: {name: office, project_name: '%auth%', domain_name: '%auth%'}
      direction: ingress
      ether_type: IPv4
"""


def test_unresolved_remotes_are_refused_and_an_exported_address_group_is_not(tmp_path):
    write(tmp_path, "security_group_rules.yml", RULES_WITH_REMOTES)
    write(
        tmp_path,
        "security_groups.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.SecurityGroup
            params: {name: web}
        """,
    )
    write(
        tmp_path,
        "address_groups.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.AddressGroup
            params: {name: office, addresses: [192.0.2.0/24]}
        """,
    )
    errors = validate_data_dir(tmp_path, types=["security_group_rules"])
    assert len(errors) == 3, errors
    assert "resources[0]" in errors[0]
    assert "params.remote_group: the source security_group abc could not be resolved" in errors[0]
    assert "resources[1]" in errors[1]
    assert (
        "params.remote_address_group: address_group 'not-exported' is not in address_groups.yml"
        in (errors[1])
    )
    assert "wider" in errors[1]
    assert "resources[2]" in errors[2]
    assert "params.remote_address_group: the source address_group ag-1 could not be resolved" in errors[2]


def test_old_remote_address_group_id_param_is_refused(tmp_path):
    write(
        tmp_path,
        "security_group_rules.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.SecurityGroupRule
            params:
              security_group: {name: web, project_name: '%auth%', domain_name: '%auth%'}
              remote_address_group_id: ag-1
              direction: ingress
              ether_type: IPv4
        """,
    )
    errors = validate_data_dir(tmp_path, types=["security_group_rules"])
    assert len(errors) == 1
    assert "'remote_address_group_id' was unexpected" in errors[0]


def test_bad_filter_and_unknown_type_are_errors(tmp_path):
    assert validate_data_dir(tmp_path, filters={"networks": [{"regex": "[a-"}]})[0].startswith(
        "filters.networks[0]: invalid regular expression"
    )
    with pytest.raises(ValidationError, match="unknown type 'volumes'"):
        resolve_types(["volumes"])


def test_values_needing_a_newer_api_microversion_are_reported():
    from types import SimpleNamespace

    from os_migrate.resources import Keypair
    from os_migrate.validation import microversion_errors

    old_nova = SimpleNamespace(
        compute=SimpleNamespace(get_endpoint_data=lambda: SimpleNamespace(max_microversion="2.1"))
    )
    x509 = Keypair({"type": Keypair.type, "params": {"name": "k", "public_key": "x", "type": "x509"}})
    ssh = Keypair({"type": Keypair.type, "params": {"name": "s", "public_key": "x", "type": "ssh"}})
    errors = microversion_errors({"keypairs": [x509, ssh]}, old_nova)
    assert len(errors) == 1
    assert "params.type: needs compute API microversion 2.2" in errors[0]
    assert "offers up to 2.1" in errors[0]
    assert ssh.create_body(None) == {"name": "s", "public_key": "x"}


def test_address_that_is_no_cidr_is_reported_with_its_index(tmp_path):
    write(
        tmp_path,
        "address_groups.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.AddressGroup
            params: {name: office, addresses: [192.0.2.0/24, not-an-ip, 10.0.0.300]}
        """,
    )
    errors = validate_data_dir(tmp_path, types=["address_groups"])
    assert len(errors) == 2, errors
    assert "params.addresses[1]: 'not-an-ip' is not an IP address or CIDR" in errors[0]
    assert "address_groups.yml:3: resources[0] (openstack.network.AddressGroup 'office')" in errors[0]
    assert "params.addresses[2]" in errors[1]


def test_rules_only_run_refuses_a_wider_destination_address_group_except_in_dry_run(tmp_path):
    from openstack.network.v2.address_group import AddressGroup as SdkAddressGroup

    from os_migrate.validation import collect_errors

    write(
        tmp_path,
        "security_group_rules.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.SecurityGroupRule
            params:
              security_group: {name: web, project_name: '%auth%', domain_name: '%auth%'}
              remote_address_group: {name: office, project_name: '%auth%', domain_name: '%auth%'}
              direction: ingress
              ether_type: IPv4
        """,
    )
    write(
        tmp_path,
        "address_groups.yml",
        """\
        os_migrate_version: 1
        resources:
          - type: openstack.network.AddressGroup
            params: {name: office, addresses: [192.0.2.0/24]}
        """,
    )

    class Refs:
        project_id = "p"

        def find(self, kind, ref, required=True):
            if kind == "security_group":
                return object()
            return SdkAddressGroup(id="ag", name="office", addresses=["192.0.2.0/24", "203.0.113.0/24"])

    def errors(**kw):
        return collect_errors(tmp_path, types=["security_group_rules"], refs=Refs(), **kw).errors

    (error,) = errors()
    assert "params.remote_address_group: address_group 'office' in the destination differs" in error
    assert "import address_groups first" in error
    assert errors(dry_run=True) == []
    # importing the address groups in the same run fixes the group first: no error
    both = collect_errors(tmp_path, types=["address_groups", "security_group_rules"], refs=Refs())
    assert both.errors == []
