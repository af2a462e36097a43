"""Marathi (Devanagari) texts of the built-in notification messages."""

from __future__ import annotations

from typing import Final

TITLES: Final = {
    "run_failed": "tapri: {{ workflow }} अयशस्वी झाले",
    "task_retrying": "tapri: {{ workflow }}.{{ task_id }} पुन्हा चालवत आहोत",
    "run_succeeded": "tapri: {{ workflow }} यशस्वी झाले",
    "run_recovered": "tapri: {{ workflow }} पुन्हा सुरळीत",
    "fire_late": "tapri: {{ workflow }} उशिरा सुरू झाले",
    "deadline_missed": "tapri: {{ workflow }} ची मुदत चुकली",
    "fires_missed": "tapri: {{ workflow }} च्या {{ missed_count }} नियोजित फेऱ्या चुकल्या",
}

HEADLINES: Final = {
    "run_failed": "{{ workflow }} चा रन {{ run_id }} {{ time }} वाजता अयशस्वी झाला.",
    "task_retrying": (
        "{{ workflow }} मधील टास्क {{ task_id }} प्रयत्न {{ attempt }} मध्ये {{ time }} वाजता"
        " अयशस्वी झाला; तो पुन्हा चालवला जाईल{% if retry_in %} ({{ retry_in }} नंतर){% endif %}."
    ),
    "run_succeeded": (
        "{{ workflow }} चा रन {{ run_id }} {{ time }} वाजता यशस्वी झाला"
        "{% if duration %} ({{ duration }} मध्ये){% endif %}."
    ),
    "run_recovered": (
        "{{ workflow }} पुन्हा सुरळीत: आधीच्या अपयशानंतर रन {{ run_id }} {{ time }} वाजता यशस्वी झाला."
    ),
    "fire_late": (
        "{{ workflow }}{% if task_id %} मधील टास्क {{ task_id }}{% endif %}"
        " ठरलेल्या वेळेपेक्षा {{ lateness }} उशिरा सुरू झाला ({{ time }})."
    ),
    "deadline_missed": (
        "{{ workflow }}{% if task_id %} मधील टास्क {{ task_id }}{% endif %} मुदतीत"
        "{% if deadline %} ({{ deadline }}){% endif %} पूर्ण झाला नाही; {{ time }} वाजता"
        " लक्षात आले."
    ),
    "fires_missed": (
        "{{ workflow }} च्या {{ missed_count }} नियोजित फेऱ्या चुकल्या; {{ time }} वाजता लक्षात आले."
    ),
}

LABELS: Final = {
    "workflow": "वर्कफ्लो",
    "run": "रन",
    "task": "टास्क",
    "attempt": "प्रयत्न",
    "time": "वेळ",
    "reason": "कारण",
    "failed_tasks": "अयशस्वी टास्क",
    "log_tail": "लॉगच्या शेवटच्या ओळी",
    "look": "अधिक माहितीसाठी",
}

FOLDED: Final = "गेल्या {{ window }} मध्ये असे आणखी {{ folded }} संदेश; सर्वात नवीन:"
