"""Plans, contracts (with amendments) and subscriptions: reads and per-resource writes.

`PUT /v1/{plans|contracts|subscriptions}/{code}` creates or updates one resource from one item of the
catalog document (api/catalog_resources.py), so the rules of `invoiceflow apply` hold: changed plan charges
become a new plan version; a contract is sent with every dated version (none may be removed, a billed one
cannot change, a new one must take effect after the last billed date); a billed subscription's terms are
fixed. An amendment is a new dated version of a contract. `POST /v1/contracts/{code}/amendments` builds the
contract item from the stored contract (its customer, currency and every existing version) plus the new
version and applies that the same way, with the contract row locked and If-Match honoured when sent.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import Depends, Query
from pydantic import Field
from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.catalog_resources import (
    ETAG_HEADER,
    CatalogKind,
    CodePath,
    locked,
    put,
    put_responses,
    resource_etag,
    show,
)
from invoiceflow.api.deps import api_router, caller, ctx_of, not_found
from invoiceflow.api.etags import check_if_match
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.routing import problem_responses
from invoiceflow.api.schemas.catalog import (
    ApplyResult,
    Contract,
    ContractIn,
    Plan,
    PlanIn,
    Subscription,
    SubscriptionIn,
)
from invoiceflow.api.schemas.common import WriteModel
from invoiceflow.catalog.apply import apply_document
from invoiceflow.errors import ApplyError, Problem
from invoiceflow.store.db import reader
from invoiceflow.store.tables import contract_versions, contracts, customers, plan_versions, plans, subscriptions

router = api_router("contracts")
WITH_ETAG = {200: {"headers": ETAG_HEADER}}


class AmendmentIn(WriteModel):
    version: dict[str, Any] = Field(description="A contract version as in the catalog document: effective_from, "
                                                "plan, and optional terms (overrides, discounts, commitment, ...).")


def _plan(conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(plans).where(plans.c.tenant_id == tenant_id, plans.c.code == code)).mappings().first()
    return None if row is None else {**row, "versions": _plan_versions(conn, [row["id"]])[row["id"]]}


def _contract(conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    row = conn.execute(_contract_query(tenant_id).where(contracts.c.code == code)).mappings().first()
    return None if row is None else {**row, "versions": _contract_versions(conn, [row["id"]])[row["id"]]}


def _subscription(conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    row = conn.execute(_subscription_query(tenant_id).where(subscriptions.c.code == code)).mappings().first()
    return None if row is None else dict(row)


PLAN = CatalogKind("plans", plans, "plan", _plan)
CONTRACT = CatalogKind("contracts", contracts, "contract", _contract)
SUBSCRIPTION = CatalogKind("subscriptions", subscriptions, "subscription", _subscription)


@router.get("/v1/plans", response_model=Page[Plan], dependencies=[allow("catalog.read")])
def list_plans(request: Request, page: PageParams = Depends(),
               currency: str | None = Query(None, min_length=3, max_length=3)) -> dict[str, Any]:
    query = select(plans).where(plans.c.tenant_id == caller(request).tenant_id)
    if currency:
        query = query.where(plans.c.currency == currency)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, plans.c.id, "plans", page)
        versions = _plan_versions(conn, [r["id"] for r in rows])
    return page_of([{**r, "versions": versions[r["id"]]} for r in rows], cursor)


@router.get("/v1/plans/{code}", response_model=Plan, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One plan with its price versions (ETag)")
def get_plan(code: str, request: Request, response: Response) -> dict[str, Any]:
    return show(PLAN, code, request, response)


@router.put("/v1/plans/{code}", response_model=Plan, dependencies=[allow("catalog.write")],
            responses=put_responses(Plan), summary="Create or update a plan (If-Match to update)")
def put_plan(code: CodePath, body: PlanIn, request: Request, response: Response) -> Any:
    return put(PLAN, code, body, request, response)


@router.get("/v1/contracts", response_model=Page[Contract], dependencies=[allow("catalog.read")])
def list_contracts(request: Request, page: PageParams = Depends(),
                   customer: str | None = Query(None, max_length=64)) -> dict[str, Any]:
    query = _contract_query(caller(request).tenant_id)
    if customer:
        query = query.where(customers.c.code == customer)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, contracts.c.id, "contracts", page)
        versions = _contract_versions(conn, [r["id"] for r in rows])
    return page_of([{**r, "versions": versions[r["id"]]} for r in rows], cursor)


@router.get("/v1/contracts/{code}", response_model=Contract, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One contract with its dated versions (ETag)")
def get_contract(code: str, request: Request, response: Response) -> dict[str, Any]:
    return show(CONTRACT, code, request, response)


@router.put("/v1/contracts/{code}", response_model=Contract, dependencies=[allow("catalog.write")],
            responses=put_responses(Contract),
            summary="Create or update a contract with every dated version (If-Match to update)")
def put_contract(code: CodePath, body: ContractIn, request: Request, response: Response) -> Any:
    return put(CONTRACT, code, body, request, response)


@router.post("/v1/contracts/{code}/amendments", response_model=ApplyResult, dependencies=[allow("catalog.write")],
             responses={200: {"headers": ETAG_HEADER}, **problem_responses(412)},
             summary="Amend a contract with a new dated version (If-Match honoured)")
def amend_contract(code: str, body: AmendmentIn, request: Request, response: Response) -> dict[str, Any]:
    who = caller(request)
    with ctx_of(request).engine.begin() as conn:
        current = locked(conn, CONTRACT, who.tenant_id, code)
        if current is None:
            raise not_found("contract", code)
        check_if_match(request, resource_etag(CONTRACT, current), required=False)
        report = apply_document(conn, who.tenant_id, {"contracts": [_amended(current, body.version)]})
        response.headers["ETag"] = resource_etag(CONTRACT, _contract(conn, who.tenant_id, code))
    return {"changed": report.changed, "created": dict(report.created), "updated": dict(report.updated),
            "unchanged": dict(report.unchanged)}


def _amended(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The contract's document item with `new` added, or replacing the version of the same date."""
    if not isinstance(new.get("effective_from"), str):
        raise ApplyError([Problem("version", "effective_from", "required: the date the amendment takes effect")])
    versions = [v["terms"] for v in current["versions"] if v["terms"].get("effective_from") != new["effective_from"]]
    item = {"code": current["code"], "customer": current["customer"], "currency": current["currency"],
            "versions": sorted([*versions, new], key=lambda v: str(v.get("effective_from")))}
    if current["po_number"]:
        item["po_number"] = current["po_number"]
    return item


@router.get("/v1/subscriptions", response_model=Page[Subscription], dependencies=[allow("catalog.read")])
def list_subscriptions(request: Request, page: PageParams = Depends(),
                       customer: str | None = Query(None, max_length=64),
                       contract: str | None = Query(None, max_length=64)) -> dict[str, Any]:
    query = _subscription_query(caller(request).tenant_id)
    if customer:
        query = query.where(customers.c.code == customer)
    if contract:
        query = query.where(contracts.c.code == contract)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, subscriptions.c.id, "subscriptions", page)
    return page_of(rows, cursor)


@router.get("/v1/subscriptions/{code}", response_model=Subscription, dependencies=[allow("catalog.read")],
            responses=WITH_ETAG, summary="One subscription (ETag)")
def get_subscription(code: str, request: Request, response: Response) -> dict[str, Any]:
    return show(SUBSCRIPTION, code, request, response)


@router.put("/v1/subscriptions/{code}", response_model=Subscription, dependencies=[allow("catalog.write")],
            responses=put_responses(Subscription), summary="Create or update a subscription (If-Match to update)")
def put_subscription(code: CodePath, body: SubscriptionIn, request: Request, response: Response) -> Any:
    return put(SUBSCRIPTION, code, body, request, response)


def _plan_versions(conn, ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    if ids:
        for r in conn.execute(select(plan_versions.c.plan_id, plan_versions.c.version, plan_versions.c.charges)
                              .where(plan_versions.c.plan_id.in_(ids)).order_by(plan_versions.c.version)):
            out[r.plan_id].append({"version": r.version, "charges": r.charges})
    return out


def _contract_query(tenant_id: int):
    return (select(contracts, customers.c.code.label("customer"))
            .join(customers, customers.c.id == contracts.c.customer_id).where(contracts.c.tenant_id == tenant_id))


def _contract_versions(conn, ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    if ids:
        query = (select(contract_versions.c.contract_id, contract_versions.c.version,
                        contract_versions.c.effective_from, contract_versions.c.terms, plans.c.code.label("plan"),
                        plan_versions.c.version.label("plan_version"))
                 .join(plan_versions, plan_versions.c.id == contract_versions.c.plan_version_id)
                 .join(plans, plans.c.id == plan_versions.c.plan_id)
                 .where(contract_versions.c.contract_id.in_(ids)).order_by(contract_versions.c.version))
        for r in conn.execute(query).mappings():
            out[r["contract_id"]].append(dict(r))
    return out


def _subscription_query(tenant_id: int):
    return (select(subscriptions, customers.c.code.label("customer"), contracts.c.code.label("contract"))
            .join(customers, customers.c.id == subscriptions.c.customer_id)
            .join(contracts, contracts.c.id == subscriptions.c.contract_id)
            .where(subscriptions.c.tenant_id == tenant_id))
