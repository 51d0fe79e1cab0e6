"""Catalog: the declarative apply, and reads and per-resource writes of legal entities, customers,
products and meters.

Two ways to write, one set of rules. `POST /v1/catalog` takes the same document as `invoiceflow apply`,
checked against the published schema and applied all or nothing, matched by code and content hash, so a
retry changes nothing. `PUT /v1/<kind>/{code}` creates or updates one resource: its body is one item of
that document section and it is applied the same way (api/catalog_resources.py), with an ETag to send back
as If-Match when updating. Plans, contracts and subscriptions are in routes/contracts.py.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import Depends, Query
from sqlalchemy import Connection, Table, select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.catalog_resources import ETAG_HEADER, CatalogKind, CodePath, put, put_responses, show
from invoiceflow.api.deps import api_router, caller, ctx_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.problems import ApiProblem, field_error
from invoiceflow.api.schemas.catalog import (
    ApplyResult,
    CatalogDocument,
    Customer,
    CustomerIn,
    LegalEntity,
    LegalEntityIn,
    Meter,
    MeterIn,
    Product,
    ProductIn,
)
from invoiceflow.catalog.apply import apply_document
from invoiceflow.store.db import reader
from invoiceflow.store.tables import customer_accounts, customers, legal_entities, meters, products

router = api_router("catalog")
Code = str
WITH_ETAG = {200: {"headers": ETAG_HEADER}}


def _by_code(table: Table, conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(table).where(table.c.tenant_id == tenant_id, table.c.code == code)).mappings().first()
    return None if row is None else dict(row)


def _customer(conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    row = conn.execute(_customer_query(tenant_id).where(customers.c.code == code)).mappings().first()
    if row is None:
        return None
    rows = [dict(row)]
    _with_accounts(conn, rows)
    return rows[0]


LEGAL_ENTITY = CatalogKind("legal_entities", legal_entities, "legal entity", partial(_by_code, legal_entities))
CUSTOMER = CatalogKind("customers", customers, "customer", _customer)
PRODUCT = CatalogKind("products", products, "product", partial(_by_code, products))
METER = CatalogKind("meters", meters, "meter", partial(_by_code, meters))


@router.post("/v1/catalog", response_model=ApplyResult, dependencies=[allow("catalog.write")],
             summary="Apply a catalog document")
def apply_catalog(doc: CatalogDocument, request: Request) -> dict[str, Any]:
    """Create or update legal entities, products, meters, customers, plans, contracts (and amendments),
    subscriptions, prepaid credits and GL mapping from one document; all or nothing, idempotent."""
    who = caller(request)
    if doc.tenant is not None and doc.tenant != who.tenant:
        raise ApiProblem(422, f"the document names tenant {doc.tenant!r} but the credential belongs to "
                              f"{who.tenant!r}", errors=[field_error("tenant", "not the caller's tenant")])
    body = doc.model_dump(exclude_unset=True, exclude={"tenant"})
    with ctx_of(request).engine.begin() as conn:
        report = apply_document(conn, who.tenant_id, body)
    return {"changed": report.changed, "created": dict(report.created), "updated": dict(report.updated),
            "unchanged": dict(report.unchanged)}


@router.get("/v1/legal-entities", response_model=Page[LegalEntity], dependencies=[allow("catalog.read")])
def list_legal_entities(request: Request, page: PageParams = Depends(),
                        country: str | None = Query(None, max_length=2)) -> dict[str, Any]:
    query = select(legal_entities).where(legal_entities.c.tenant_id == caller(request).tenant_id)
    if country:
        query = query.where(legal_entities.c.country == country)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, legal_entities.c.id, "legal_entities", page)
    return page_of(rows, cursor)


@router.get("/v1/legal-entities/{code}", response_model=LegalEntity, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One legal entity (ETag)")
def get_legal_entity(code: Code, request: Request, response: Response) -> dict[str, Any]:
    return show(LEGAL_ENTITY, code, request, response)


@router.put("/v1/legal-entities/{code}", response_model=LegalEntity, dependencies=[allow("catalog.write")],
            responses=put_responses(LegalEntity), summary="Create or update a legal entity (If-Match to update)")
def put_legal_entity(code: CodePath, body: LegalEntityIn, request: Request, response: Response) -> Any:
    return put(LEGAL_ENTITY, code, body, request, response)


@router.get("/v1/customers", response_model=Page[Customer], dependencies=[allow("catalog.read")])
def list_customers(request: Request, page: PageParams = Depends(),
                   segment: str | None = Query(None, max_length=64),
                   currency: str | None = Query(None, min_length=3, max_length=3),
                   legal_entity: str | None = Query(None, max_length=64)) -> dict[str, Any]:
    query = _customer_query(caller(request).tenant_id)
    for column, value in ((customers.c.segment, segment), (customers.c.currency, currency),
                          (legal_entities.c.code, legal_entity)):
        if value:
            query = query.where(column == value)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, customers.c.id, "customers", page)
        _with_accounts(conn, rows)
    return page_of(rows, cursor)


@router.get("/v1/customers/{code}", response_model=Customer, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One customer with its account ids (ETag)")
def get_customer(code: Code, request: Request, response: Response) -> dict[str, Any]:
    return show(CUSTOMER, code, request, response)


@router.put("/v1/customers/{code}", response_model=Customer, dependencies=[allow("catalog.write")],
            responses=put_responses(Customer), summary="Create or update a customer (If-Match to update)")
def put_customer(code: CodePath, body: CustomerIn, request: Request, response: Response) -> Any:
    return put(CUSTOMER, code, body, request, response)


@router.get("/v1/products", response_model=Page[Product], dependencies=[allow("catalog.read")])
def list_products(request: Request, page: PageParams = Depends()) -> dict[str, Any]:
    return _page(request, products, "products", page)


@router.get("/v1/products/{code}", response_model=Product, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One product (ETag)")
def get_product(code: Code, request: Request, response: Response) -> dict[str, Any]:
    return show(PRODUCT, code, request, response)


@router.put("/v1/products/{code}", response_model=Product, dependencies=[allow("catalog.write")],
            responses=put_responses(Product), summary="Create or update a product (If-Match to update)")
def put_product(code: CodePath, body: ProductIn, request: Request, response: Response) -> Any:
    return put(PRODUCT, code, body, request, response)


@router.get("/v1/meters", response_model=Page[Meter], dependencies=[allow("catalog.read")])
def list_meters(request: Request, page: PageParams = Depends()) -> dict[str, Any]:
    return _page(request, meters, "meters", page)


@router.get("/v1/meters/{code}", response_model=Meter, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One meter (ETag)")
def get_meter(code: Code, request: Request, response: Response) -> dict[str, Any]:
    return show(METER, code, request, response)


@router.put("/v1/meters/{code}", response_model=Meter, dependencies=[allow("catalog.write")],
            responses=put_responses(Meter), summary="Create or update a meter (If-Match to update)")
def put_meter(code: CodePath, body: MeterIn, request: Request, response: Response) -> Any:
    return put(METER, code, body, request, response)


def _page(request: Request, table, scope: str, page: PageParams) -> dict[str, Any]:
    query = select(table).where(table.c.tenant_id == caller(request).tenant_id)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, table.c.id, scope, page)
    return page_of(rows, cursor)


def _customer_query(tenant_id: int):
    return (select(customers, legal_entities.c.code.label("legal_entity"))
            .join(legal_entities, legal_entities.c.id == customers.c.legal_entity_id)
            .where(customers.c.tenant_id == tenant_id))


def _with_accounts(conn, rows: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in rows]
    accounts: dict[int, list[str]] = {}
    if ids:
        for cid, ext in conn.execute(select(customer_accounts.c.customer_id, customer_accounts.c.external_id)
                                     .where(customer_accounts.c.customer_id.in_(ids))
                                     .order_by(customer_accounts.c.external_id)):
            accounts.setdefault(cid, []).append(ext)
    for r in rows:
        r["account_ids"] = accounts.get(r["id"], [])
        r["po_required"], r["tax_exempt"] = bool(r["po_required"]), bool(r["tax_exempt"])
