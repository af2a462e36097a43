"""``${env:NAME}`` and ``${cred:NAME}`` references, and masking what they expand to.

    ${env:NAME}   the daemon's environment variable NAME
    ${cred:NAME}  the file $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=), one
                  trailing newline stripped

Every expanded value is a secret: callers keep the ``secrets`` of an ``Expanded`` and pass
them to ``mask`` before anything reaches the store, the logs or an error message. Errors
name the reference, never a value.
"""

from __future__ import annotations

import os
import re
import secrets as secrets_module
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tapri_daemon.errors import SecretError

REFERENCE = re.compile(r"\$\{(env|cred):([A-Za-z0-9_][A-Za-z0-9_.-]*)\}")
MASK = "***"


@dataclass(frozen=True, kw_only=True)
class Expanded:
    value: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Sources:
    """Where references resolve: an environment and a credentials folder."""

    environ: Mapping[str, str]
    credentials_dir: Path | None = None

    @classmethod
    def from_process(cls, credentials_dir: Path | None = None) -> Sources:
        folder = credentials_dir or _env_path("CREDENTIALS_DIRECTORY")
        return cls(environ=dict(os.environ), credentials_dir=folder)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def has_references(text: str) -> bool:
    return "${" in text and REFERENCE.search(text) is not None


def _read_credential(name: str, folder: Path | None) -> str:
    reference = f"${{cred:{name}}}"
    if folder is None:
        raise SecretError(reference, "no credentials directory ($CREDENTIALS_DIRECTORY unset)")
    if name in (".", "..") or "/" in name:
        raise SecretError(reference, "a credential name cannot be a path")
    try:
        text = (folder / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(reference, f"cannot read {folder / name} ({exc.strerror})") from None
    return text[:-1] if text.endswith("\n") else text


def resolve(kind: str, name: str, sources: Sources) -> str:
    """The value behind one reference."""
    if kind == "cred":
        return _read_credential(name, sources.credentials_dir)
    if name not in sources.environ:
        raise SecretError(f"${{env:{name}}}", "not set in the daemon's environment")
    return sources.environ[name]


def expand(text: str, sources: Sources) -> Expanded:
    """Replace every reference in ``text``; the values replaced are the secrets."""
    if not has_references(text):
        return Expanded(value=text)
    found: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = resolve(match.group(1), match.group(2), sources)
        found.append(value)
        return value

    return Expanded(value=REFERENCE.sub(replace, text), secrets=tuple(found))


def expand_mapping(
    values: Mapping[str, str], sources: Sources
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Expand every value of an ``env`` table; returns the table and all secrets."""
    out: dict[str, str] = {}
    secrets: list[str] = []
    for key, text in values.items():
        expanded = expand(text, sources)
        out[key] = expanded.value
        secrets.extend(expanded.secrets)
    return out, tuple(secrets)


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest secrets first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def mask_value(value: Any, secrets: Iterable[str]) -> Any:
    """``mask`` applied to every string inside a JSON value (keys included)."""
    chosen = tuple(s for s in secrets if s)
    if not chosen:
        return value
    return _mask_json(value, chosen)


def _mask_json(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {mask(str(k), secrets): _mask_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_json(v, secrets) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Held:
    """Text whose references were swapped for unguessable placeholders (see ``hold``)."""

    text: str
    values: Mapping[str, str]

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self.values.values())

    def restore(self, rendered: str) -> str:
        for placeholder, value in self.values.items():
            rendered = rendered.replace(placeholder, value)
        return rendered


def hold(text: str, sources: Sources) -> Held:
    """Resolve the references in ``text`` but leave placeholders in their place.

    For a value that is also a template: render the held text, then ``restore`` it. The
    template never sees a secret, and nothing a template renders (a param, an output) can
    smuggle in a reference, because only references in the text as written are resolved.
    """
    if not has_references(text):
        return Held(text=text, values={})
    nonce = secrets_module.token_hex(8)
    values: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        placeholder = f"@@tapri-secret-{nonce}-{len(values)}@@"
        values[placeholder] = resolve(match.group(1), match.group(2), sources)
        return placeholder

    return Held(text=REFERENCE.sub(replace, text), values=values)
