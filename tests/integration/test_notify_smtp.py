"""Email sent for real through apprise to an aiosmtpd server on loopback (plain SMTP + AUTH)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.clocks import SystemClock
from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.model import Definitions
from tapri_daemon.notify import Router

PASSWORD = "smtp-pa55-secret"


@dataclass
class Mailbox:
    """aiosmtpd handler and authenticator: keeps every message and every login."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password.decode() == PASSWORD)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=mailbox, auth_require_tls=False
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def mail_url(port: int) -> str:
    # mailto:// (not mailtos://) with mode=insecure: plain SMTP, no TLS, AUTH LOGIN/PLAIN
    return (
        f"mailto://tapri:${{cred:SMTP_PASSWORD}}@127.0.0.1:{port}"
        "?smtp=127.0.0.1&mode=insecure&from=tapri@example.com&to=ops@example.com"
    )


async def send(
    port: int, credentials: Path, event: Event, language: str, **notifier: Any
) -> list[Any]:
    defs = Definitions.model_validate(
        {
            "notifier": {"mail": {"urls": [mail_url(port)], "language": language, **notifier}},
            "workflow": {
                "mumbai_local": {
                    "timezone": "Asia/Kolkata",
                    "notify": {"on_failure": ["mail"], "on_late": ["mail"]},
                    "task": {"announce": {"command": "true"}},
                }
            },
        }
    )
    router = Router(defs, clock=SystemClock(), credentials_dir=credentials)
    with capture_logs() as captured:
        async with AsyncExitStack() as stack:
            await router.start(stack)
            await router.notify(event)
            await router.wait_idle()
    return captured


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    (tmp_path / "SMTP_PASSWORD").write_text(PASSWORD + "\n")
    return tmp_path


async def test_an_email_arrives_with_subject_and_body(
    smtp: tuple[Mailbox, int], credentials: Path
) -> None:
    mailbox, port = smtp
    event = Event(
        kind=EventKind.RUN_FAILED,
        workflow="mumbai_local",
        at=datetime(2025, 1, 6, 3, 30, 0, tzinfo=UTC),
        run_id="ml-0900",
        reason="task announce failed (exit 1)",
        details={"failed_tasks": ["announce"], "log_tail": {"announce": "signal failure at Dadar"}},
    )
    captured = await send(port, credentials, event, "en")
    assert mailbox.logins == [("tapri", PASSWORD)]
    [(sender, recipients, message)] = mailbox.messages
    assert (sender, recipients) == ("tapri@example.com", ["ops@example.com"])
    assert message["Subject"] == "tapri: mumbai_local failed"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Run ml-0900 of mumbai_local failed at 09:00:00 IST." in text
    assert "signal failure at Dadar" in text
    assert "tapri logs ml-0900 announce" in text
    assert [e["notifier"] for e in captured if e["event"] == logs.NOTIFY_SENT] == ["mail"]
    assert PASSWORD not in repr(captured)


async def test_a_marathi_deadline_alert_arrives_in_devanagari(
    smtp: tuple[Mailbox, int], credentials: Path
) -> None:
    mailbox, port = smtp
    event = Event(
        kind=EventKind.DEADLINE_MISSED,
        workflow="mumbai_local",
        at=datetime(2025, 1, 6, 4, 30, 5, tzinfo=UTC),
        run_id="ml-1000",
        task_id="announce",
        details={"deadline": "10:00:05"},
    )
    await send(port, credentials, event, "mr")
    [(_, _, message)] = mailbox.messages
    assert message["Subject"] == "tapri: mumbai_local ची मुदत चुकली"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "मधील टास्क announce मुदतीत (10:00:05) पूर्ण झाला नाही" in body.get_content()
    assert "10:00:05 IST" in body.get_content()


async def test_a_wrong_password_is_a_logged_failure_without_the_password(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, port = smtp
    (tmp_path / "SMTP_PASSWORD").write_text("wrong-pa55word")
    event = Event(kind=EventKind.RUN_FAILED, workflow="mumbai_local", at=datetime.now(UTC))
    # aiosmtpd leaves a refused client hanging, so this also ends by the notifier's timeout
    captured = await send(port, tmp_path, event, "hinglish", timeout="1s", retries=0)
    assert mailbox.messages == []
    assert mailbox.logins == [("tapri", "wrong-pa55word")]
    [failure] = [e for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert failure["notifier"] == "mail"
    assert "wrong-pa55word" not in repr(captured)
