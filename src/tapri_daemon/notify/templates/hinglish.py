"""Hinglish (Roman-script Hindi-English, the Tech Tapri style) texts of the built-in messages."""

from __future__ import annotations

from typing import Final

TITLES: Final = {
    "run_failed": "tapri: {{ workflow }} fail ho gaya",
    "task_retrying": "tapri: {{ workflow }}.{{ task_id }} phir se try ho raha hai",
    "run_succeeded": "tapri: {{ workflow }} success ho gaya",
    "run_recovered": "tapri: {{ workflow }} wapas patri pe aa gaya",
    "fire_late": "tapri: {{ workflow }} late chala",
    "deadline_missed": "tapri: {{ workflow }} ki deadline miss ho gayi",
    "fires_missed": "tapri: {{ workflow }} ke {{ missed_count }} scheduled runs miss ho gaye",
}

HEADLINES: Final = {
    "run_failed": "Arre bhai, {{ workflow }} ka run {{ run_id }} {{ time }} pe fail ho gaya.",
    "task_retrying": (
        "{{ workflow }} ka task {{ task_id }} attempt {{ attempt }} mein {{ time }} pe fail hua;"
        " tension mat lo, retry hoga{% if retry_in %} {{ retry_in }} mein{% endif %}."
    ),
    "run_succeeded": (
        "Badhiya! {{ workflow }} ka run {{ run_id }} {{ time }} pe success ho gaya"
        "{% if duration %} ({{ duration }} mein){% endif %}."
    ),
    "run_recovered": (
        "Sab theek! {{ workflow }} pichhli failure ke baad wapas chal pada:"
        " run {{ run_id }} {{ time }} pe success."
    ),
    "fire_late": (
        "{{ workflow }}{% if task_id %} ka task {{ task_id }}{% endif %} apne time se"
        " {{ lateness }} late chala ({{ time }})."
    ),
    "deadline_missed": (
        "{{ workflow }}{% if task_id %} ka task {{ task_id }}{% endif %} deadline"
        "{% if deadline %} ({{ deadline }}){% endif %} tak poora nahi hua;"
        " {{ time }} pe pata chala."
    ),
    "fires_missed": (
        "{{ workflow }} ke {{ missed_count }} scheduled runs miss ho gaye;"
        " {{ time }} pe pata chala."
    ),
}

LABELS: Final = {
    "workflow": "Workflow",
    "run": "Run",
    "task": "Task",
    "attempt": "attempt",
    "time": "Time",
    "reason": "Wajah",
    "failed_tasks": "Fail hue tasks",
    "log_tail": "Log ki aakhri lines",
    "look": "Aur dekhna hai toh",
}

FOLDED: Final = "Pichhle {{ window }} mein aise {{ folded }} aur messages; sabse naya:"
