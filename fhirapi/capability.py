"""What the CapabilityStatement (views.metadata) says about search and operations, built from the same tables the
server runs on (search handlers, sorting.SORTS, includes.INCLUDES, the $export and $everything URLs), so it declares
exactly what is supported."""

from __future__ import annotations

from .includes import INCLUDES, revincludes_of
from .sorting import sorts_of

BULK = "http://hl7.org/fhir/uv/bulkdata/"
EXPORT_SYSTEM = {"name": "export", "definition": BULK + "OperationDefinition/export"}
EXPORT_PATIENT = {"name": "export", "definition": BULK + "OperationDefinition/patient-export"}
EXPORT_GROUP = {"name": "export", "definition": BULK + "OperationDefinition/group-export"}
EVERYTHING = {
    "name": "everything",
    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
}
INSTANTIATES = [BULK + "CapabilityStatement/bulk-data"]


def last_updated_supported(resource_type: str) -> bool:
    from .selectors import KEPT_TYPES
    from .tokens import EXTRA

    return resource_type in EXTRA or resource_type in KEPT_TYPES


def search_extras(resource_type: str) -> dict:
    """The result parameters of a type (`_lastUpdated`, `_sort` and its values), its `searchInclude` and
    `searchRevInclude`, and its operations."""
    params = []
    if last_updated_supported(resource_type):
        params.append(
            {
                "name": "_lastUpdated",
                "type": "date",
                "documentation": "When the resource last changed here (a kept resource: when received); "
                "date or dateTime with eq, ne, gt, lt, ge, le",
            }
        )
    params.append(
        {
            "name": "_sort",
            "type": "special",
            "documentation": "Comma-separated, '-' for descending: "
            + ", ".join(sorted(sorts_of(resource_type))),
        }
    )
    includes = [f"{resource_type}:{p}" for p in INCLUDES.get(resource_type, {})]
    if includes:
        params.append(
            {
                "name": "_include",
                "type": "special",
                "documentation": "Resources the matches refer to: " + ", ".join(includes),
            }
        )
    revincludes = list(revincludes_of(resource_type))
    if revincludes:
        params.append(
            {
                "name": "_revinclude",
                "type": "special",
                "documentation": "Resources that refer to the matches: " + ", ".join(revincludes),
            }
        )
    out: dict = {"searchParam": params}
    if includes:
        out["searchInclude"] = includes
    if revincludes:
        out["searchRevInclude"] = revincludes
    if resource_type == "Patient":
        out["operation"] = [EXPORT_PATIENT, EVERYTHING]
    return out


def group_resource() -> dict:
    """Group: only Bulk Data export (a Group is a department; there is no Group read or search)."""
    return {
        "type": "Group",
        "profile": "http://hl7.org/fhir/StructureDefinition/Group",
        "operation": [EXPORT_GROUP],
    }


def system_operations() -> list[dict]:
    return [EXPORT_SYSTEM]
