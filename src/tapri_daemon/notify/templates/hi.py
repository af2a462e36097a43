"""Hindi (Devanagari) texts of the built-in notification messages."""

from __future__ import annotations

from typing import Final

TITLES: Final = {
    "run_failed": "tapri: {{ workflow }} विफल हुआ",
    "task_retrying": "tapri: {{ workflow }}.{{ task_id }} फिर से चलाया जा रहा है",
    "run_succeeded": "tapri: {{ workflow }} सफल रहा",
    "run_recovered": "tapri: {{ workflow }} फिर से ठीक है",
    "fire_late": "tapri: {{ workflow }} देर से चला",
    "deadline_missed": "tapri: {{ workflow }} अपनी समय-सीमा चूक गया",
    "fires_missed": "tapri: {{ workflow }} के {{ missed_count }} निर्धारित रन छूट गए",
}

HEADLINES: Final = {
    "run_failed": "{{ workflow }} का रन {{ run_id }} {{ time }} पर विफल हो गया।",
    "task_retrying": (
        "{{ workflow }} का टास्क {{ task_id }} प्रयास {{ attempt }} में {{ time }} पर विफल हुआ;"
        " इसे फिर से चलाया जाएगा{% if retry_in %} ({{ retry_in }} बाद){% endif %}।"
    ),
    "run_succeeded": (
        "{{ workflow }} का रन {{ run_id }} {{ time }} पर सफल रहा"
        "{% if duration %} ({{ duration }} में){% endif %}।"
    ),
    "run_recovered": (
        "{{ workflow }} फिर से ठीक है: पिछली विफलता के बाद रन {{ run_id }} {{ time }} पर सफल रहा।"
    ),
    "fire_late": (
        "{{ workflow }}{% if task_id %} का टास्क {{ task_id }}{% endif %}"
        " तय समय से {{ lateness }} देर से चला ({{ time }})।"
    ),
    "deadline_missed": (
        "{{ workflow }}{% if task_id %} का टास्क {{ task_id }}{% endif %} अपनी समय-सीमा"
        "{% if deadline %} ({{ deadline }}){% endif %} तक पूरा नहीं हुआ; {{ time }} पर पता चला।"
    ),
    "fires_missed": (
        "{{ workflow }} के {{ missed_count }} निर्धारित रन छूट गए; {{ time }} पर पता चला।"
    ),
}

LABELS: Final = {
    "workflow": "वर्कफ़्लो",
    "run": "रन",
    "task": "टास्क",
    "attempt": "प्रयास",
    "time": "समय",
    "reason": "कारण",
    "failed_tasks": "विफल टास्क",
    "log_tail": "लॉग की आख़िरी पंक्तियाँ",
    "look": "और जानकारी के लिए",
}

FOLDED: Final = "पिछले {{ window }} में ऐसे {{ folded }} और संदेश; सबसे नया:"
