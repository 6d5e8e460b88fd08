"""Validation against FHIR R4 4.0.1 itself: the SMART `fhirclient` models are generated from the 4.0.1 structure
definitions and, in strict mode, refuse unknown elements, wrong types, wrong cardinality and missing required
elements (fhir.resources 8 ships R5 and R4B models only)."""

import importlib

from fhirclient.models.fhirabstractbase import FHIRValidationError


def r4_validate(resource: dict):
    """Parse `resource` (any type, Bundles with their entries) strictly as R4; raise AssertionError if invalid."""
    rtype = resource.get("resourceType")
    module = importlib.import_module(f"fhirclient.models.{rtype.lower()}")
    try:
        return getattr(module, rtype)(resource, strict=True)
    except FHIRValidationError as exc:
        raise AssertionError(f"{rtype}/{resource.get('id')} is not valid FHIR R4: {exc}") from None
