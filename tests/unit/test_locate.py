"""spec.locate: key paths -> line:column over tricky but valid TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tapri_daemon.spec.locate import KeyPath, Position, format_key, index_toml

TRICKY = '''\
# a comment with [brackets] and key = "value"
title = "x = [not a table]"   # trailing comment
"quoted key" = 1
'dotted.literal' = 2
a.b.c = 3
site."google.com" = true
multi = """
[workflow.fake]
retries = 9
"""
literal_multi = \'\'\'
[pool.fake] \'\'\'
quotes = """ends with two quotes"""""
escaped = "a \\" [b] # not a comment"
when = 1979-05-27 07:32:00Z
arr = [
  1, # one
  [2, 3],
  { k = "v", n.m = 4 },
]

[ workflow . "with space" ]
schedule = ["0 10 * * *", "*/5 * * * *"]
notify = { on_failure = ["ops", "dev"] }

[workflow.rbi.task.gen]
python = "banking:generate"
retries = 5

[[fruit]]
name = "apple"
[fruit.physical]
color = "red"
[[fruit.variety]]
name = "red delicious"
[[fruit]]
name = "banana"
'''


def _paths(value: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    found: list[KeyPath] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += [(*prefix, key), *_paths(item, (*prefix, key))]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += [(*prefix, i), *_paths(item, (*prefix, i))]
    return found


def test_every_key_tomllib_sees_is_located_exactly() -> None:
    index = index_toml(TRICKY)
    expected = _paths(tomllib.loads(TRICKY))
    assert expected
    missing = [p for p in expected if p not in index.positions]
    assert missing == []


ROOT = Path(__file__).resolve().parents[2]
REAL_FILES = sorted(
    p
    for p in [
        ROOT / "workflows.toml",
        *ROOT.glob("config/*.toml"),
        *ROOT.glob("tests/fixtures/**/*.toml"),
    ]
    if p.is_file()
)


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_of_real_files_is_located(path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        pytest.skip("a deliberately broken fixture")
    index = index_toml(path.read_text(encoding="utf-8"))
    assert [p for p in _paths(data) if p not in index.positions] == []


def test_strings_and_comments_do_not_create_keys() -> None:
    index = index_toml(TRICKY)
    assert ("workflow", "fake") not in index.positions
    assert ("pool", "fake") not in index.positions
    assert ("b",) not in index.positions


@pytest.mark.parametrize(
    ("path", "line", "col"),
    [
        (("title",), 2, 1),
        (("quoted key",), 3, 1),
        (("dotted.literal",), 4, 1),
        (("a", "b", "c"), 5, 5),
        (("site", "google.com"), 6, 6),
        (("quotes",), 13, 1),
        (("arr", 1, 0), 18, 4),
        (("arr", 2, "n", "m"), 19, 16),
        (("workflow", "with space", "schedule", 1), 23, 27),
        (("workflow", "with space", "notify", "on_failure", 1), 24, 33),
        (("workflow", "rbi", "task", "gen", "retries"), 28, 1),
        (("fruit", 1, "name"), 37, 1),
        (("fruit", 0, "physical", "color"), 33, 1),
        (("fruit", 0, "variety", 0, "name"), 35, 1),
    ],
)
def test_positions(path: KeyPath, line: int, col: int) -> None:
    assert index_toml(TRICKY).positions[path] == Position(line=line, col=col)


def test_missing_key_falls_back_to_the_enclosing_table() -> None:
    index = index_toml(TRICKY)
    found, position = index.find(("workflow", "rbi", "task", "gen", "retires"))
    assert found == ("workflow", "rbi", "task", "gen")
    assert position == Position(line=26, col=20)


def test_unknown_root_gives_nothing() -> None:
    assert index_toml(TRICKY).find(("nothing",)) == ((), None)


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# only a comment", "[", 'a = "unterminated', "a = [1, 2", "= 3", "[[a]\n"],
)
def test_never_raises_even_on_broken_text(text: str) -> None:
    index_toml(text)


def test_crlf_line_endings() -> None:
    index = index_toml('a = 1\r\n[t]\r\nb = "x"\r\n')
    assert index.positions[("t", "b")] == Position(line=3, col=1)


def test_format_key() -> None:
    assert format_key(("workflow", "a", "after", 0)) == "workflow.a.after[0]"
    assert format_key(("task", "x", "env", "MY.VAR")) == 'task.x.env."MY.VAR"'
