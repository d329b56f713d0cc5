"""Small fakes for core unit tests (no cloud)."""

from os_migrate.references import make_ref


class FakeRefs:
    """Stands in for RefIndex: ids are '<kind>-<name>' and every object is in the own project."""

    project_id = "proj-auth"

    def __init__(self, objects=None):
        self._objects = objects or {}

    def objects(self, kind):
        """Listed objects of ``kind`` by id (none unless given)."""
        return self._objects.get(kind, {})

    def ref(self, kind, obj_id):
        if not obj_id:
            return None
        return make_ref(obj_id.split("-", 1)[1])

    def id(self, kind, ref, required=True):
        return f"{kind}-{ref['name']}"

    def add(self, kind, obj):
        pass
