"""Telling people: routing, folding, messages per language, apprise delivery.

routes.py     which notifiers hear an event (workflow routes + task routes), pure
folding.py    at most one message per (notifier, kind, workflow) per min_interval, pure
context.py    an Event -> the variables a message template sees, pure
messages.py   jinja2 sandboxed rendering; built-in texts in templates/ (en, hi, mr, hinglish)
delivery.py   one message to one notifier: apprise, timeout per try, retries, notify.* logs
router.py     Router, the real interfaces.Notifier: queue, dispatcher, flusher, drain
"""

from __future__ import annotations

from tapri_daemon.notify.delivery import AppriseSender, Sender
from tapri_daemon.notify.messages import Message, Renderer
from tapri_daemon.notify.router import Router

__all__ = ["AppriseSender", "Message", "Renderer", "Router", "Sender"]
