"""POST /v1/invoices/{id}/credit-notes: finance raises a draft credit note that then takes the governed path;
a replay by reference (200) or Idempotency-Key never writes twice; every refusal names the field at fault."""

from __future__ import annotations

from conftest import auth
from sqlalchemy import func, select

from invoiceflow.store.tables import credit_note_requests, invoices


def issued_invoice(client, tenant, customer: str = "berlin") -> dict:
    """The customer's validated invoice, submitted, approved and issued through the API."""
    [found] = client.get(f"/v1/invoices?customer={customer}", headers=auth(tenant.keys["ada"])).json()["data"]
    path = f"/v1/invoices/{found['id']}"
    for action, who in (("submit", "ada"), ("approve", "apr"), ("issue", "ada")):
        assert client.post(f"{path}/{action}", headers=auth(tenant.keys[who])).status_code == 200, action
    return client.get(path, headers=auth(tenant.keys["fin"])).json()


def written(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (invoices, credit_note_requests))


def test_finance_raises_a_credit_note_that_takes_the_governed_path(world, client):
    engine, alpha, _ = world
    invoice = issued_invoice(client, alpha)
    line = invoice["lines"][0]
    body = {"reason": "outage on Sept 3", "lines": [{"line_id": line["id"], "amount": "100.00"}],
            "reference": "crm-1"}
    created = client.post(f"/v1/invoices/{invoice['id']}/credit-notes", headers=auth(alpha.keys["fin"]), json=body)
    assert created.status_code == 201, created.text
    note = created.json()
    assert created.headers["location"] == f"/v1/credit-notes/{note['id']}" and created.headers["etag"]
    assert (note["document_type"], note["status"], note["corrects_invoice_id"], note["created_by"], note["total"]) == (
        "credit_note", "draft", invoice["id"], "fin", "100.00")
    assert [(l["line_type"], l["credits_line_id"], l["amount"]) for l in note["lines"]] == [
        ("credit", line["id"], "100.00")]
    assert client.get(created.headers["location"], headers=auth(alpha.keys["auditor"])).json() == note

    before = written(engine)
    replay = client.post(f"/v1/invoices/{invoice['id']}/credit-notes", headers=auth(alpha.keys["fin"]), json=body)
    assert replay.status_code == 200 and replay.json()["id"] == note["id"]
    assert written(engine) == before

    path = f"/v1/credit-notes/{note['id']}"
    assert client.post(f"{path}/validate", headers=auth(alpha.keys["fin"])).json()["status"] == "validated"
    assert client.post(f"{path}/submit", headers=auth(alpha.keys["fin"])).json()["status"] == "pending_approval"
    own = client.post(f"{path}/approve", headers=auth(alpha.keys["fin"]))
    assert own.status_code == 403 and "fin cannot approve this invoice: fin created it" in own.json()["detail"]
    assert client.post(f"{path}/approve", headers=auth(alpha.keys["apr"])).json()["status"] == "approved"
    issued = client.post(f"{path}/issue", headers=auth(alpha.keys["ada"])).json()
    assert issued["status"] == "issued" and issued["number"].startswith("CN-")
    note = client.get(path, headers=auth(alpha.keys["fin"])).json()
    assert (note["tax_total"], note["total"]) == ("19.00", "119.00")  # taxed like the invoice: 19 % German VAT


def test_an_idempotency_key_replays_the_first_response(world, client):
    engine, alpha, _ = world
    invoice = issued_invoice(client, alpha)
    url = f"/v1/invoices/{invoice['id']}/credit-notes"
    headers = auth(alpha.keys["fin"], **{"Idempotency-Key": "retry-7"})
    first = client.post(url, headers=headers, json={"reason": "goodwill"})
    before = written(engine)
    again = client.post(url, headers=headers, json={"reason": "goodwill"})
    assert (first.status_code, again.status_code, again.headers["idempotent-replayed"]) == (201, 201, "true")
    assert again.json() == first.json() and first.json()["total"] == "300.00"
    assert written(engine) == before
    other = client.post(url, headers=headers, json={"reason": "another"})
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")


def problem(response) -> tuple[int, list[tuple[str, str]]]:
    doc = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, [(e["pointer"], e["detail"]) for e in doc.get("errors", [])]


def test_refusals_name_the_field_and_write_nothing(world, client):
    engine, alpha, beta = world
    invoice = issued_invoice(client, alpha)
    line = invoice["lines"][0]["id"]
    url = f"/v1/invoices/{invoice['id']}/credit-notes"
    fin = auth(alpha.keys["fin"])
    assert client.post(url, headers=fin, json={"reason": "first", "reference": "r-1",
                                               "lines": [{"line_id": line, "amount": "250"}]}).status_code == 201
    before = written(engine)

    status, errors = problem(client.post(url, headers=fin, json={
        "reason": "too much", "lines": [{"line_id": line, "quantity": "1"}, {"line_id": line, "amount": "50.01"}]}))
    assert (status, errors) == (422, [("/lines/0/line_id", "is named more than once; name it once with all it "
                                                           "credits")])
    status, errors = problem(client.post(url, headers=fin, json={"reason": "x", "lines": [
        {"line_id": line, "amount": "50.01"}]}))
    assert (status, errors) == (422, [("/lines/0/amount", "cannot credit 50.01 EUR of Platform subscription "
                                                          "(position 1): only 50.00 EUR of its 300.00 EUR net "
                                                          "remains uncredited")])
    status, errors = problem(client.post(url, headers=fin, json={"reason": "x", "lines": [
        {"line_id": 999_999, "quantity": "1"}, {"line_id": line, "quantity": "-1"}]}))
    assert status == 422 and [pointer for pointer, _ in errors] == ["/lines/0/line_id", "/lines/1/quantity"]
    assert errors[1][1] == "must be greater than zero, got -1"
    status, errors = problem(client.post(url, headers=fin, json={"lines": [{"line_id": line}]}))
    assert (status, errors[0][0]) == (422, "/reason")
    status, errors = problem(client.post(url, headers=fin, json={"reason": "   "}))
    assert (status, errors) == (422, [("/reason", "is required: why the invoice is credited (--reason)")])
    status, errors = problem(client.post(url, headers=fin, json={"reason": "x", "lines": [
        {"line_id": line, "amount": 1.5}]}))
    assert status == 422 and errors[0][0] == "/lines/0/amount"
    reused = client.post(url, headers=fin, json={"reason": "other", "reference": "r-1"})
    assert reused.status_code == 409 and "reference 'r-1' was already used" in reused.json()["detail"]
    [draft] = client.get("/v1/invoices?customer=only-a", headers=fin).json()["data"]
    held = client.post(f"/v1/invoices/{draft['id']}/credit-notes", headers=fin, json={"reason": "x"})
    assert held.status_code == 422
    assert f"invoice {draft['id']}.status: is {draft['status']}: only issued" in held.json()["detail"]
    assert client.post(f"/v1/invoices/{beta.invoices[0]}/credit-notes", headers=fin,
                       json={"reason": "x"}).status_code == 404
    assert client.post(f"/v1/invoices/{invoice['id']}/credit-notes", headers=auth(alpha.keys["revops"]),
                       json={"reason": "x"}).status_code == 403
    assert written(engine) == before
