"""The OpenAPI document as client generators read it: valid OpenAPI 3.1, one shared `Problem` schema for
every error, short operation ids that stay unique, and usage schemas that say what the ingestion takes."""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
from conftest import auth
from fastapi import APIRouter
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from schemathesis.specs.openapi.definitions import OPENAPI_31
from sqlalchemy import create_engine
from test_idempotency import events_count

from invoiceflow.api import create_app
from invoiceflow.api.problems import PROBLEM_JSON
from invoiceflow.api.routing import operation_id

PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPERATION_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(create_engine("sqlite://")).openapi()  # the document needs no data


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object of a JSON document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from nodes(item)


def test_the_document_is_valid_openapi_3_1(document):
    Draft202012Validator(OPENAPI_31).validate(document)  # the structure; the schemas in it are checked here:
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    refs = {n["$ref"] for n in nodes(document) if isinstance(n.get("$ref"), str)}
    assert refs and {ref.removeprefix("#/components/schemas/") for ref in refs} <= set(schemas)


def test_every_error_response_refers_to_the_one_problem_schema(document):
    errors = [(method, path, status, response) for method, path, operation in operations(document)
              for status, response in operation["responses"].items() if int(status) >= 400]
    assert len(errors) > 500
    assert [(m, p, s) for m, p, s, response in errors if response.get("content") != PROBLEM] == []
    schemas = document["components"]["schemas"]
    assert {"type", "title", "status", "detail"} <= set(schemas["Problem"]["required"])
    assert schemas["Problem"]["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemFieldError"}
    assert {"field", "pointer", "in", "detail"} <= set(schemas["ProblemFieldError"]["properties"])
    written_out = [n for n in nodes(document) if {"title", "status", "detail"} <= set(n.get("properties", {}))]
    assert written_out == [schemas["Problem"]]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas


def test_fastapi_validation_responses_point_at_problem_as_the_app_answers_them():
    """A route outside the guarded routers still gets FastAPI's 422; the app answers it with a problem
    document, so the document must say so."""
    app = create_app(create_engine("sqlite://"))

    @app.get("/probe", tags=["meta"])
    def probe(n: int) -> dict[str, int]:
        return {"n": n}

    document = app.openapi()
    assert document["paths"]["/probe"]["get"]["responses"]["422"]["content"] == PROBLEM
    assert "HTTPValidationError" not in document["components"]["schemas"]
    answer = TestClient(app).get("/probe?n=many")
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in answer.json()["errors"]] == ["n"]


def test_a_model_of_the_api_cannot_take_the_problem_schemas_name():
    class Problem(BaseModel):
        note: str

    app = create_app(create_engine("sqlite://"))
    app.get("/probe", tags=["meta"], response_model=Problem)(lambda: {"note": "x"})
    with pytest.raises(RuntimeError, match="reserved for the problem document"):
        app.openapi()


def test_operation_ids_are_short_unique_and_name_their_resource(document):
    ids = {(method, path): operation["operationId"] for method, path, operation in operations(document)}
    duplicated = sorted(i for i in ids.values() if list(ids.values()).count(i) > 1)
    assert duplicated == []
    assert [i for i in ids.values() if not OPERATION_ID.match(i) or "_v1_" in i] == []
    bare = sorted(i for (_, path), i in ids.items() if path.startswith("/v1/") and "_" not in i)
    assert bare == [], "an operation id names its verb and its object, e.g. retry_effect"
    assert {ids["GET", "/v1/customers"], ids["GET", "/v1/customers/{code}"], ids["POST", "/v1/usage-events/batch"],
            ids["GET", "/v1/invoices"], ids["GET", "/v1/credit-notes"], ids["GET", "/v1/credit-notes/{invoice_id}"],
            ids["GET", "/v1/integrations/crm/events"], ids["GET", "/v1/effects/{effect_id}"],
            ids["GET", "/v1/webhook-endpoints/{endpoint_id}"]} == {
        "list_customers", "get_customer", "ingest_batch", "list_invoices", "list_credit_notes", "get_credit_note",
        "list_crm_events", "get_effect", "get_webhook_endpoint"}


def ingest_one() -> None: ...


def get(thing_id: int) -> None: ...


def retry(effect_id: int) -> None: ...


def act(invoice_id: int) -> None: ...


def test_an_operation_id_is_the_endpoint_name_qualified_only_where_that_is_ambiguous():
    router = APIRouter(generate_unique_id_function=operation_id)
    for prefix in ("invoices", "credit-notes"):  # one function per prefix, all named alike

        @router.get(f"/v1/{prefix}/{{invoice_id}}")
        def get_document(invoice_id: int) -> None: ...

        @router.get(f"/v1/{prefix}/{{invoice_id}}/history")
        def get_history(invoice_id: int) -> None: ...

    for source in ("crm", "payments"):

        @router.get(f"/v1/integrations/{source}/events")
        def list_events() -> None: ...

    router.add_api_route("/v1/usage-events", ingest_one, methods=["POST"])  # a module's function: as it is
    router.add_api_route("/v1/things/{thing_id}", get)  # a bare verb the path never says
    router.add_api_route("/v1/effects/{effect_id}/retry", retry, methods=["POST"])  # the path says it
    router.add_api_route("/v1/invoices/{invoice_id}/void", act, methods=["POST"], name="void_invoice")
    assert [route.unique_id for route in router.routes] == [
        "get_invoice", "get_invoice_history", "get_credit_note", "get_credit_note_history", "list_crm_events",
        "list_payment_events", "ingest_one", "get_thing", "retry", "void_invoice"]


def test_usage_schemas_say_what_the_ingestion_takes(document):
    schemas = document["components"]["schemas"]
    value = schemas["UsageEventIn"]["properties"]["value"]["anyOf"]
    assert sorted(branch["type"] for branch in value) == ["integer", "null", "string"]
    decimal = re.compile(next(branch["pattern"] for branch in value if branch["type"] == "string"))
    assert all(decimal.match(s) for s in ("12", "-0.5", "1.123456"))
    assert not any(decimal.match(s) for s in ("1.1234567", "1e3", "1.", "1.5 ", "0x10"))
    event = schemas["UsageEvent"]["properties"]
    assert event["timestamp"]["format"] == event["ingested_at"]["format"] == "date-time"


def test_a_float_value_is_refused_on_value_and_nothing_is_written(world, client):
    engine, alpha, _ = world
    event = {"transaction_id": "float-1", "customer": "only-a", "metric": "only-a_meter",
             "timestamp": "2026-09-03T10:00:00Z"}
    for value in (1.5, 2.0):
        answer = client.post("/v1/usage-events", headers=auth(alpha.keys["revops"]), json={**event, "value": value})
        assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM_JSON, answer.text
        [error] = answer.json()["errors"]
        assert (error["field"], error["pointer"]) == ("value", "/value") and "float" in error["detail"]
    assert events_count(engine, alpha.id) == 3
    for value in ("1.5", 2):
        answer = client.post("/v1/usage-events", headers=auth(alpha.keys["revops"]),
                             json={**event, "transaction_id": f"exact-{value}", "value": value})
        assert answer.status_code == 201, answer.text
