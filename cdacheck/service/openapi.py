"""The OpenAPI 3.1 description of the service (served at ``/openapi.json``).

Written by hand next to the routes; ``tests/test_service.py`` checks that every route of
the application is described here and nothing else, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from cdacheck import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str, retry: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": _ERROR}}}
    if retry:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                          "description": "seconds to wait before retrying"}}
    return out


def _query(name: str, values: list[str], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", "enum": values}}


def openapi_document() -> dict[str, Any]:
    secured = [{"bearer": []}, {}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "cdacheck", "version": __version__,
                 "description": "Validation of French CDA R2 documents and IHE XDM archives "
                                "(CI-SIS, INS, Ségur DS indicators) before they are sent."},
        "paths": {
            "/v1/check": {"post": {
                "summary": "Check one CDA document or one IHE XDM archive (the request body).",
                "security": secured,
                "parameters": [
                    _query("env", ["production", "test"], "production: test INS are findings"),
                    _query("fail_on", ["fatal", "error", "warning", "info"],
                           "lowest severity that makes the verdict fail (default: error)"),
                    _query("format", ["json", "text", "sarif"], "answer format (default: json)"),
                ],
                "requestBody": {"required": True, "description": "The document itself; the "
                                "content decides between XML and ZIP, Content-Type is a hint.",
                                "content": {"application/xml": {}, "text/xml": {},
                                            "application/zip": {},
                                            "application/octet-stream": {}}},
                "responses": {
                    "200": {"description": "Checked (valid or not): the RunReport of "
                            "`cdacheck --format json` with verdict and indicator on top.",
                            "headers": {"X-Cdacheck-Verdict": {"schema": {"enum": ["pass", "fail"]}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckAnswer"}},
                                        "text/plain": {}}},
                    "400": _err("not a document (neither XML nor ZIP), or a bad parameter"),
                    "401": _err("bearer token missing or wrong (when the service has one)"),
                    "408": _err("the request body did not arrive within the read time limit"),
                    "413": _err("the body is larger than the size cap"),
                    "500": _err("the worker process died during this request (it is replaced)"),
                    "501": _err("the requested format is not available in this version"),
                    "503": _err("queue full, or workers still warming up", retry=True),
                    "504": _err("the check passed the per-request time limit"),
                },
            }},
            "/healthz": {"get": {"summary": "Liveness: the process answers.",
                                 "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "Readiness: at least one worker is warm.",
                                "responses": {"200": {"description": "ready"},
                                              "503": {"description": "warming up or unusable"}}}},
            "/v1/rules": {"get": {"summary": "Every rule cdacheck can report (as `cdacheck rules "
                                             "--format json`).", "security": secured,
                                  "responses": {"200": {"description": "the rules"},
                                                "401": _err("bearer token missing or wrong")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics.", "security": secured,
                                 "responses": {"200": {"description": "text exposition format"},
                                               "401": _err("bearer token missing or wrong")}}},
            "/openapi.json": {"get": {"summary": "This description.",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"},
                                         "message": {"type": "string"}}},
                "CheckAnswer": {
                    "type": "object",
                    "required": ["verdict", "valid", "indicator", "indicators", "schema_version",
                                 "items", "summary"],
                    "properties": {
                        "verdict": {"enum": ["pass", "fail"],
                                    "description": "fail: a finding at or above fail_on"},
                        "valid": {"type": "boolean", "description": "no error in any item"},
                        "indicator": {"type": "string", "description": "the Ségur indicator "
                                      "(DS 1.1 ... or none); multiple when documents differ"},
                        "indicators": {"type": "array", "items": {"type": "string"}},
                        "schema_version": {"type": "string"},
                        "tool": {"type": "object"}, "settings": {"type": "object"},
                        "kit": {"type": ["object", "null"]},
                        "items": {"type": "array", "items": {"type": "object"}},
                        "findings": {"type": "array", "items": {"type": "object"}},
                        "summary": {"type": "object"},
                    },
                },
            },
        },
    }
