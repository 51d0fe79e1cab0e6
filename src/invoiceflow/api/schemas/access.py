"""API keys and team members as the access endpoints show them: never a hash, a secret only once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from invoiceflow.api.schemas.common import ReadModel, Timestamp, WriteModel
from invoiceflow.team import ROLES

Role = Literal[ROLES]  # type: ignore[valid-type]
MemberName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]


class ApiKeyIn(WriteModel):
    member: MemberName = Field(description="The team member the key acts as; given the roles if missing.")
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))] = Field(
        description="The key's scope: the API grants these roles only while the member also holds them.")
    label: Annotated[str, Field(max_length=200)] | None = None


class ApiKey(ReadModel):
    id: int
    name: str = Field(description="ifk_<prefix>: names the key in lists and logs; not a secret.")
    member: str
    roles: list[str]
    label: str | None = None
    created_at: Timestamp
    created_by: str
    last_used_at: Timestamp | None = Field(None, description="Updated at most once a minute.")
    revoked_at: Timestamp | None = None


class ApiKeyCreated(ApiKey):
    key: str | None = Field(description="The whole key, in this answer only (only its hash is stored). A replay "
                                        "of the request under its Idempotency-Key answers null here.")


class MemberIn(WriteModel):
    roles: Annotated[list[Role], Field(max_length=len(ROLES))] = Field(
        description="The member's roles, exactly; an empty list takes every role away.")


class Member(ReadModel):
    name: str
    roles: list[str]
    updated_at: Timestamp | None = None
