"""The built-in messages: one phrasebook per language and one body layout for all.

A phrasebook holds jinja2 templates for the title and the headline of each event kind,
the line labels, and the header of a folded summary. ``BODY`` lays a message out from a
phrasebook; a notifier's own ``template`` replaces ``BODY`` and sees the same variables
(see docs/notifications.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Final

from tapri_daemon.model import Language
from tapri_daemon.notify.templates import en, hi, hinglish, mr


@dataclass(frozen=True, kw_only=True)
class Phrasebook:
    titles: Mapping[str, str]
    """EventKind value -> title template."""
    headlines: Mapping[str, str]
    """EventKind value -> the first line of the body."""
    labels: Mapping[str, str]
    """Line labels: workflow, run, task, attempt, time, reason, failed_tasks, log_tail, look."""
    folded: str
    """Header of a folded summary; sees ``folded`` (a count) and ``window``."""


BODY: Final = """\
{{ headline }}

{{ labels.workflow }}: {{ workflow }}
{% if run_id %}
{{ labels.run }}: {{ run_id }}
{% endif %}
{% if task_id %}
{% set note = " (" ~ labels.attempt ~ " " ~ attempt ~ ")" if attempt else "" %}
{{ labels.task }}: {{ task_id }}{{ note }}
{% endif %}
{{ labels.time }}: {{ time }}
{% if reason %}
{{ labels.reason }}: {{ reason }}
{% endif %}
{% if failures %}
{{ labels.failed_tasks }}: {{ failures | map(attribute="task") | join(", ") }}
{% for failure in failures if failure.log_tail %}

--- {{ labels.log_tail }}: {{ failure.task }} ---
{{ failure.log_tail }}
{% endfor %}
{% endif %}
{% if commands %}

{{ labels.look }}:
{% for command in commands %}
  {{ command }}
{% endfor %}
{% endif %}
"""


def _book(module: ModuleType) -> Phrasebook:
    return Phrasebook(
        titles=module.TITLES, headlines=module.HEADLINES, labels=module.LABELS, folded=module.FOLDED
    )


PHRASEBOOKS: Final[Mapping[Language, Phrasebook]] = {
    "en": _book(en),
    "hi": _book(hi),
    "mr": _book(mr),
    "hinglish": _book(hinglish),
}
