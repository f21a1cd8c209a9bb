"""Checks the gateway's OpenAPI document and real responses against it.

Usage: check_openapi.py SPEC.json EXCHANGES.json

SPEC.json is the document the gateway serves at /__api__/openapi.json. EXCHANGES.json is a list
of {method, path, query, request_body, status, content_type, headers, body} recorded from the
running gateway (the response headers are checked too: a header the document requires must be
sent, and match its schema). The document is validated against the OpenAPI 3.1 schema (openapi-spec-validator); each
response is validated with openapi-core against the operation it answered, and its status must
be one the operation lists (not only `default`). Prints a JSON report
{checked, failures: [...], uncovered: [...]} and exits 1 when either list is not empty.
"""

import json
import re
import sys

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def main(spec_path, exchanges_path):
    with open(spec_path) as f:
        spec = json.load(f)
    with open(exchanges_path) as f:
        exchanges = json.load(f)
    failures = []
    try:
        validate(spec)
    except Exception as e:  # the document itself is not valid OpenAPI 3.1
        failures.append(f"the document is not valid OpenAPI: {e}")
        print(json.dumps({"checked": 0, "failures": failures, "uncovered": []}, indent=2))
        return 1
    openapi = OpenAPI.from_dict(spec)
    operations = {
        (template, method): op
        for template, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }
    templates = [(t, template_regex(t)) for t in spec["paths"]]
    # The most literal template first: /environments/x/permissions before /environments/{guid}.
    templates.sort(key=lambda t: t[0].count("{"))
    covered = set()
    for x in exchanges:
        name = f'{x["method"]} {x["path"]} -> {x["status"]}'
        method = x["method"].lower()
        template = next((t for t, r in templates if r.match(x["path"])), None)
        if template is None or (template, method) not in operations:
            failures.append(f"{name}: no operation documents this route")
            continue
        covered.add((template, method))
        documented = operations[(template, method)].get("responses", {})
        if str(x["status"]) not in documented:
            failures.append(
                f"{name}: status {x['status']} is not listed for {method.upper()} {template}"
            )
        content_type = (x.get("content_type") or "").split(";")[0].strip()
        data = (x.get("body") or "").encode()
        request = MockRequest(
            "http://gateway",
            method,
            x["path"],
            path_pattern=template,
            args=x.get("query") or {},
            data=(json.dumps(x["request_body"]).encode() if x.get("request_body") is not None else None),
        )
        headers = dict(x.get("headers") or {})
        headers.pop("content-type", None)
        if content_type:
            headers["Content-Type"] = content_type
        response = MockResponse(
            data,
            status_code=x["status"],
            headers=headers,
            content_type=content_type or None,
        )
        for error in openapi.iter_response_errors(request, response):
            detail = error
            cause = getattr(error, "__cause__", None)
            if cause is not None:
                detail = f"{error}: {cause}"
                for sub in getattr(cause, "schema_errors", []) or []:
                    detail = f"{detail}; {sub.message} at {list(sub.absolute_path)}"
            failures.append(f"{name}: {detail}")
    uncovered = sorted(
        f"{m.upper()} {t}" for (t, m) in operations if (t, m) not in covered
    )
    report = {"checked": len(exchanges), "failures": failures, "uncovered": uncovered}
    print(json.dumps(report, indent=2))
    return 1 if failures or uncovered else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
