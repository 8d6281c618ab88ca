"""Validates a FHIR R4 Bundle (JSON on stdin) with fhir.resources 6.1.0 (FHIR R4 4.0.1)
and prints a JSON summary of the values it holds, read back from the parsed resources.
Exit status 1 with the validation errors if the bundle is not valid R4."""
import json
import sys

from fhir.resources import __fhir_version__ as FHIR_VERSION
from fhir.resources.bundle import Bundle

assert FHIR_VERSION == "4.0.1", FHIR_VERSION

try:
    bundle = Bundle.parse_raw(sys.stdin.read())
except Exception as e:  # pydantic.ValidationError and JSON errors alike
    print(f"invalid FHIR R4 bundle: {e}", file=sys.stderr)
    sys.exit(1)

summary = {"type": bundle.type, "Patient": 0, "MedicationAdministration": 0,
           "administered": 0, "pain": [], "pain_unit": None, "peg": [],
           "exercise_minutes": [], "QuestionnaireResponse": [], "questionnaire_totals": {}}
for entry in bundle.entry or []:
    r = entry.resource
    kind = r.resource_type
    if kind == "Patient":
        summary["Patient"] += 1
    elif kind == "MedicationAdministration":
        summary["MedicationAdministration"] += 1
        if r.status == "completed":
            summary["administered"] += 1
    elif kind == "Observation":
        code = r.code.coding[0].code
        value = float(r.valueQuantity.value)
        if code == "72514-3":
            summary["pain"].append(value)
            summary["pain_unit"] = r.valueQuantity.code
        elif code == "91148-7":
            summary["peg"].append(round(value, 6))
        elif code == "55411-3":
            summary["exercise_minutes"].append(value)
        elif code in ("44261-6", "70274-6"):
            summary["questionnaire_totals"].setdefault(code, []).append(value)
    elif kind == "QuestionnaireResponse":
        summary["QuestionnaireResponse"].append({
            "questionnaire": r.questionnaire,
            "status": r.status,
            "answers": {i.linkId: i.answer[0].valueInteger for i in r.item or []},
        })
print(json.dumps(summary))
