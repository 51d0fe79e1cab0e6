"""Plans, contracts (with amendments) and subscriptions.

An amendment is a new dated version of a contract. `POST /v1/contracts/{code}/amendments` builds the
catalog document for it from the stored contract (its customer, currency and every existing version) plus
the new version, and applies that: the same rules as `invoiceflow apply` hold (no amendment on or before a
billed date; applying the same amendment again changes nothing).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import Depends, Query
from pydantic import Field
from sqlalchemy import select
from starlette.requests import Request

from invoiceflow.api.deps import api_router, caller, ctx_of, not_found
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.schemas.catalog import ApplyResult, Contract, Plan, Subscription
from invoiceflow.api.schemas.common import WriteModel
from invoiceflow.catalog.apply import apply_document
from invoiceflow.errors import ApplyError, Problem
from invoiceflow.store.db import reader
from invoiceflow.store.tables import contract_versions, contracts, customers, plan_versions, plans, subscriptions

router = api_router("contracts")


class AmendmentIn(WriteModel):
    version: dict[str, Any] = Field(description="A contract version as in the catalog document: effective_from, "
                                                "plan, and optional terms (overrides, discounts, commitment, ...).")


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


@router.get("/v1/plans/{code}", response_model=Plan, dependencies=[allow("catalog.read")])
def get_plan(code: str, request: Request) -> dict[str, Any]:
    with reader(ctx_of(request).engine).connect() as conn:
        row = conn.execute(select(plans).where(plans.c.tenant_id == caller(request).tenant_id,
                                               plans.c.code == code)).mappings().first()
        if row is None:
            raise not_found("plan", code)
        return {**row, "versions": _plan_versions(conn, [row["id"]])[row["id"]]}


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


@router.get("/v1/contracts/{code}", response_model=Contract, dependencies=[allow("catalog.read")])
def get_contract(code: str, request: Request) -> dict[str, Any]:
    with reader(ctx_of(request).engine).connect() as conn:
        return _contract(conn, caller(request).tenant_id, code)


@router.post("/v1/contracts/{code}/amendments", response_model=ApplyResult, dependencies=[allow("catalog.write")],
             summary="Amend a contract with a new dated version")
def amend_contract(code: str, body: AmendmentIn, request: Request) -> dict[str, Any]:
    who = caller(request)
    with ctx_of(request).engine.begin() as conn:
        current = _contract(conn, who.tenant_id, code)
        versions = [v["terms"] for v in current["versions"]]
        new = body.version
        if not isinstance(new.get("effective_from"), str):
            raise ApplyError([Problem("version", "effective_from", "required: the date the amendment takes effect")])
        versions = [v for v in versions if v.get("effective_from") != new["effective_from"]] + [new]
        item = {"code": code, "customer": current["customer"], "currency": current["currency"],
                "versions": sorted(versions, key=lambda v: str(v.get("effective_from")))}
        if current["po_number"]:
            item["po_number"] = current["po_number"]
        report = apply_document(conn, who.tenant_id, {"contracts": [item]})
    return {"changed": report.changed, "created": dict(report.created), "updated": dict(report.updated),
            "unchanged": dict(report.unchanged)}


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


@router.get("/v1/subscriptions/{code}", response_model=Subscription, dependencies=[allow("catalog.read")])
def get_subscription(code: str, request: Request) -> dict[str, Any]:
    with reader(ctx_of(request).engine).connect() as conn:
        row = conn.execute(_subscription_query(caller(request).tenant_id).where(subscriptions.c.code == code)
                           ).mappings().first()
    if row is None:
        raise not_found("subscription", code)
    return dict(row)


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


def _contract(conn, tenant_id: int, code: str) -> dict[str, Any]:
    row = conn.execute(_contract_query(tenant_id).where(contracts.c.code == code)).mappings().first()
    if row is None:
        raise not_found("contract", code)
    return {**row, "versions": _contract_versions(conn, [row["id"]])[row["id"]]}


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
