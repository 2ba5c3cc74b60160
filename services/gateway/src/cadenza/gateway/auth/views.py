"""Accounts and API keys as the API shows them."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from cadenza.gateway.auth import accounts


class UserView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    disabled: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, user: accounts.User) -> UserView:
        return cls.model_validate(user)


class UserPage(BaseModel):
    items: list[UserView]
    total: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
    next: str | None = Field(description="The next page's path and query (also `Link`)")


class ApiKeyView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, key: accounts.ApiKey) -> ApiKeyView:
        return cls.model_validate(key)


class ApiKeyPage(BaseModel):
    items: list[ApiKeyView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
    next: str | None = Field(description="The next page's path and query (also `Link`)")


class NewApiKey(ApiKeyView):
    key: str = Field(description="The key itself; shown this once, store it now")
