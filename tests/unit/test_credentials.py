"""${env:NAME} / ${cred:NAME} expansion, placeholders for templates, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapri_daemon.credentials import (
    Sources,
    expand,
    expand_mapping,
    hold,
    mask,
    mask_value,
    resolve,
)
from tapri_daemon.errors import SecretError


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    (tmp_path / "db_password").write_text("s3cr3t-pw\n")
    return Sources(environ={"API_TOKEN": "tok-123", "EMPTY": ""}, credentials_dir=tmp_path)


def test_expand_env_and_cred(sources: Sources) -> None:
    got = expand("Bearer ${env:API_TOKEN} / ${cred:db_password}", sources)
    assert got.value == "Bearer tok-123 / s3cr3t-pw"
    assert got.secrets == ("tok-123", "s3cr3t-pw")


def test_text_without_references_is_untouched(sources: Sources) -> None:
    got = expand("$HOME ${notaref} ${env:}", sources)
    assert got.value == "$HOME ${notaref} ${env:}"
    assert got.secrets == ()


def test_errors_name_the_reference_never_a_value(sources: Sources, tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"\$\{env:NOPE\}: not set"):
        expand("${env:NOPE}", sources)
    with pytest.raises(SecretError, match=r"\$\{cred:missing\}: cannot read"):
        expand("${cred:missing}", sources)
    with pytest.raises(SecretError, match="CREDENTIALS_DIRECTORY"):
        expand("${cred:x}", Sources(environ={}))


def test_credential_names_cannot_escape_the_folder(sources: Sources) -> None:
    for text in ("${cred:..}", "${cred:../etc/passwd}", "${cred:a/b}"):
        assert expand(text, sources).value == text  # not a reference at all
    with pytest.raises(SecretError, match="cannot be a path"):
        resolve("cred", "..", sources)


def test_expand_mapping_collects_every_secret(sources: Sources) -> None:
    env, secrets = expand_mapping({"A": "${env:API_TOKEN}", "B": "plain"}, sources)
    assert env == {"A": "tok-123", "B": "plain"}
    assert secrets == ("tok-123",)


def test_hold_keeps_secrets_out_of_the_template(sources: Sources) -> None:
    held = hold("user:${cred:db_password}@{{ ds }}", sources)
    assert "s3cr3t" not in held.text
    assert "{{ ds }}" in held.text
    rendered = held.text.replace("{{ ds }}", "2026-01-05")
    assert held.restore(rendered) == "user:s3cr3t-pw@2026-01-05"
    assert held.secrets == ("s3cr3t-pw",)


def test_mask_replaces_every_secret_longest_first() -> None:
    text = "token tok-123 and tok-123456 and pw"
    assert mask(text, ["tok-123", "tok-123456", ""]) == "token *** and *** and pw"


def test_mask_value_walks_json() -> None:
    value = {"k": ["a tok-123", {"tok-123": 1}], "n": 5}
    assert mask_value(value, ["tok-123"]) == {"k": ["a ***", {"***": 1}], "n": 5}
    assert mask_value(value, []) is value
