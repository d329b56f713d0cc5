"""Nova resources that belong to pre-workload content: keypairs."""

from __future__ import annotations

from os_migrate.resources.base import Resource


class Keypair(Resource):
    """An SSH keypair of the authenticated user (public part only; Nova never returns the
    private key of an existing keypair, and none is ever written to the data dir).

    The public key and type cannot be changed in place: a keypair of that name with another key
    in the destination is a conflict, reported before any write.
    """

    type = "openstack.compute.Keypair"
    type_key = "keypairs"
    ref_kind = "keypair"
    params_from_sdk = ("name", "public_key", "type")
    info_from_sdk = ("id", "user_id", "fingerprint", "created_at")
    create_only = ("public_key", "type")
    required_params = ("name", "public_key")
    params_schema = {"name": {"type": "string"}, "public_key": {"type": "string"},
                     "type": {"enum": ["ssh", "x509"]}}

    @property
    def source_id(self):
        return self.info.get("id") or self.name

    @classmethod
    def list_sdk(cls, conn, refs):
        return conn.compute.keypairs()

    @classmethod
    def from_sdk(cls, obj, refs):
        res = super().from_sdk(obj, refs)
        # Nova keypairs have no id of their own: the name is the id (per user).
        res.record["_info"].setdefault("id", obj.name)
        return res

    def _create_sdk(self, conn, body):
        return conn.compute.create_keypair(**body)
