"""Events rendered into messages: jinja2 sandboxed templates, a phrasebook per language.

    renderer = Renderer()
    message = renderer.render(event, "ops", notifier, zone=zones.zone("Asia/Kolkata"))
    message.title, message.body      # "tapri: rbi_daily failed", "Run … failed at 15:00:03 IST."

The built-in layout is ``templates.BODY`` with the notifier's language; a notifier's
``template`` replaces the layout and its ``title`` replaces the title, both rendered with
the same variables. A folded summary gets a header line in the notifier's language. If a
notifier's own template cannot be rendered, the built-in one is used and the problem is
returned in ``Message.template_error`` so the router can log it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Final

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tapri_daemon import model
from tapri_daemon.errors import TemplateError
from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.notify import context
from tapri_daemon.notify.templates import BODY, PHRASEBOOKS, Phrasebook

NOTIFY_TYPES: Final = {
    EventKind.RUN_FAILED: "failure",
    EventKind.TASK_RETRYING: "warning",
    EventKind.RUN_SUCCEEDED: "success",
    EventKind.RUN_RECOVERED: "success",
    EventKind.FIRE_LATE: "warning",
    EventKind.DEADLINE_MISSED: "warning",
    EventKind.FIRES_MISSED: "warning",
}
"""apprise's notify types: info, success, warning, failure."""


@dataclass(frozen=True, kw_only=True)
class Message:
    """One rendered message for one notifier."""

    notifier: str
    kind: EventKind
    workflow: str
    run_id: str | None
    title: str
    body: str
    notify_type: str
    folded: int = 0
    """How many repeats this summary stands for (0: an ordinary message)."""
    template_error: str | None = None
    """Why the notifier's own template was not used, if it was not."""


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> jinja2.Template:
    """Parse a template once; raise TemplateError with the line for a syntax error."""
    try:
        return _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(_shorten(source), f"line {exc.lineno}: {exc.message}") from None


def render_text(source: str, variables: dict[str, Any]) -> str:
    """Render one template in the sandbox; raise TemplateError on any failure."""
    template = compile_template(source)
    try:
        return template.render(variables).strip()
    except jinja2.TemplateError as exc:
        raise TemplateError(_shorten(source), str(exc)) from None


def check_template(source: str) -> None:
    """Raise TemplateError if ``source`` does not parse (for definition checks)."""
    compile_template(source)


def _shorten(source: str) -> str:
    first = source.strip().splitlines()[0] if source.strip() else ""
    return first if len(first) <= 40 else first[:39] + "…"


class Renderer:
    """Turns an event into the message one notifier sends."""

    def render(
        self,
        event: Event,
        name: str,
        notifier: model.Notifier,
        *,
        zone: tzinfo,
        folded: int = 0,
        window: timedelta | None = None,
    ) -> Message:
        book = PHRASEBOOKS[notifier.language]
        variables = context.build(
            event,
            zone=zone,
            notifier=name,
            language=notifier.language,
            folded=folded,
            window=window,
        )
        variables.update(self._phrases(book, event.kind, variables))
        title, body, error = self._own_or_default(notifier, variables)
        if folded:
            title = f"[+{folded}] {title}"
            body = render_text(book.folded, variables) + "\n\n" + body
        return Message(
            notifier=name,
            kind=event.kind,
            workflow=event.workflow,
            run_id=event.run_id,
            title=title,
            body=body,
            notify_type=NOTIFY_TYPES[event.kind],
            folded=folded,
            template_error=error,
        )

    @staticmethod
    def _phrases(book: Phrasebook, kind: EventKind, variables: dict[str, Any]) -> dict[str, Any]:
        return {
            "labels": dict(book.labels),
            "title": render_text(book.titles[kind], variables),
            "headline": render_text(book.headlines[kind], variables),
        }

    @staticmethod
    def _own_or_default(
        notifier: model.Notifier, variables: dict[str, Any]
    ) -> tuple[str, str, str | None]:
        default_title = str(variables["title"])
        try:
            title = render_text(notifier.title, variables) if notifier.title else default_title
            body = render_text(notifier.template or BODY, variables)
        except TemplateError as exc:
            return default_title, render_text(BODY, variables), exc.message
        return title, body, None
