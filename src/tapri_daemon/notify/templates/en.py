"""English texts of the built-in notification messages."""

from __future__ import annotations

from typing import Final

TITLES: Final = {
    "run_failed": "tapri: {{ workflow }} failed",
    "task_retrying": "tapri: {{ workflow }}.{{ task_id }} is being retried",
    "run_succeeded": "tapri: {{ workflow }} succeeded",
    "run_recovered": "tapri: {{ workflow }} is healthy again",
    "fire_late": "tapri: {{ workflow }} fired late",
    "deadline_missed": "tapri: {{ workflow }} missed its deadline",
    "fires_missed": "tapri: {{ workflow }} missed {{ missed_count }} scheduled fire(s)",
}

HEADLINES: Final = {
    "run_failed": "Run {{ run_id }} of {{ workflow }} failed at {{ time }}.",
    "task_retrying": (
        "Task {{ task_id }} of {{ workflow }} failed on attempt {{ attempt }} at {{ time }}"
        " and will be retried{% if retry_in %} in {{ retry_in }}{% endif %}."
    ),
    "run_succeeded": (
        "Run {{ run_id }} of {{ workflow }} succeeded at {{ time }}"
        "{% if duration %} after {{ duration }}{% endif %}."
    ),
    "run_recovered": (
        "{{ workflow }} works again: run {{ run_id }} succeeded at {{ time }} after a failure."
    ),
    "fire_late": (
        "The precise fire of {{ workflow }}{% if task_id %} (task {{ task_id }}){% endif %}"
        " was {{ lateness }} late at {{ time }}."
    ),
    "deadline_missed": (
        "{{ workflow }}{% if task_id %} task {{ task_id }}{% endif %} missed its deadline"
        "{% if deadline %} ({{ deadline }}){% endif %}; noticed at {{ time }}."
    ),
    "fires_missed": (
        "{{ workflow }} missed {{ missed_count }} scheduled fire(s); noticed at {{ time }}."
    ),
}

LABELS: Final = {
    "workflow": "Workflow",
    "run": "Run",
    "task": "Task",
    "attempt": "attempt",
    "time": "Time",
    "reason": "Reason",
    "failed_tasks": "Failed tasks",
    "log_tail": "End of the log",
    "look": "Look further",
}

FOLDED: Final = "{{ folded }} more like this in the last {{ window }}; the latest:"
