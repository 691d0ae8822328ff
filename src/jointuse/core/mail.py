"""E-mail over SMTP (one-time codes to customers, confirmations), and a local sink for tests and
the demo.

:class:`SmtpMailer` sends through the SMTP server of the configuration
(``JOINTUSE_SMTP_HOST``, ``JOINTUSE_SMTP_PORT``, ``JOINTUSE_MAIL_FROM``; STARTTLS and login when
``JOINTUSE_SMTP_STARTTLS=1`` / ``JOINTUSE_SMTP_USER`` and ``JOINTUSE_SMTP_PASSWORD`` are set).
:class:`MailSink` is a real SMTP server on a local port (``aiosmtpd``) that keeps what it
receives — the tests and ``jointuse demo-scenario`` read the codes from it, as a person reads
their mailbox.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Protocol

from jointuse.core.errors import JointuseError


class MailUnavailable(JointuseError):
    """The mail server could not take the message (503: try again)."""

    code = "mail_unavailable"
    status = 503


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    host: str = "127.0.0.1"
    port: int = 8025
    sender: str = "jointuse <no-reply@jointuse.invalid>"
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(
                f"the mail server {self.host}:{self.port} did not take the message "
                f"({type(exc).__name__}); try again",
                retry_after=30,
            ) from None


def mailer_from(env: Mapping[str, str]) -> SmtpMailer:
    """The mailer of the configuration (see the module docstring)."""
    return SmtpMailer(
        host=env.get("JOINTUSE_SMTP_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=int(env.get("JOINTUSE_SMTP_PORT", "8025") or 8025),
        sender=env.get("JOINTUSE_MAIL_FROM", "").strip() or "jointuse <no-reply@jointuse.invalid>",
        starttls=env.get("JOINTUSE_SMTP_STARTTLS", "").strip() in ("1", "true", "yes"),
        user=env.get("JOINTUSE_SMTP_USER") or None,
        password=env.get("JOINTUSE_SMTP_PASSWORD") or None,
    )


@dataclass
class Received:
    to: list[str]
    subject: str
    body: str


@dataclass
class MailSink:
    """Messages an SMTP sink received (thread-safe)."""

    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        with self.lock:
            self.messages.append(Received(list(envelope.rcpt_tos), str(parsed["Subject"]), text))
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.to]


@contextmanager
def mail_sink(port: int = 0) -> Iterator[tuple[MailSink, SmtpMailer]]:
    """A local SMTP server (a free port unless ``port``) and a mailer sending to it."""
    from aiosmtpd.controller import Controller

    from jointuse.core.net import free_port

    sink = MailSink()
    chosen = port or free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=chosen)
    controller.start()
    try:
        yield sink, SmtpMailer(host="127.0.0.1", port=chosen)
    finally:
        controller.stop()
