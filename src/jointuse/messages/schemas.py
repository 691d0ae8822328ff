"""Request and response models of the inbox and webhook routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from jointuse.core.http import RowId, StrictModel
from jointuse.messages.service import MAX_PEEK
from jointuse.messages.webhooks import MAX_URL_LENGTH


class AckIn(StrictModel):
    ids: list[RowId] = Field(min_length=1, max_length=MAX_PEEK)


class AckOut(BaseModel):
    acknowledged: int = Field(description="How many of the IDs were unacknowledged until now")


class MessageOut(BaseModel):
    id: int
    kind: str
    subject_ref: dict[str, str]
    body: dict[str, Any]
    created_at: str
    acked_at: str | None


class InboxOut(BaseModel):
    messages: list[MessageOut]
    next_after: int = Field(description="The cursor for the next peek (`after=`)")


class WebhookIn(StrictModel):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, examples=["https://example.jp/hook"])


class FailureOut(BaseModel):
    message_id: int
    attempts: int
    last_error: str
    failed_at: str


class DeliveryOut(BaseModel):
    pending: int = Field(description="Messages waiting to be pushed")
    head_message_id: int | None = Field(description="The message the attempts are on")
    attempts: int = Field(description="Failed attempts on the head message so far")
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_success_at: str | None
    last_status: int | None
    last_error: str | None
    delivered: int
    given_up: int
    recent_failures: list[FailureOut]


class WebhookOut(BaseModel):
    url: str
    created_at: str
    updated_at: str
    delivery: DeliveryOut
    secret: str | None = Field(
        default=None, description="Only in the answer to PUT: the signing secret, shown once"
    )
