"""spec.load: settings, paths, includes, merging, and located problems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tapri_daemon.errors import ConfigError, Problem
from tapri_daemon.model import Workflow
from tapri_daemon.spec.load import Loaded, load_definitions, load_settings
from tapri_daemon.spec.settings import system_timezone

FIXTURES = Path(__file__).parent.parent / "fixtures"
EMPTY_ENV: dict[str, str] = {}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _load(*files: Path) -> Loaded:
    return load_definitions(load_settings(None, workflows=files, environ=EMPTY_ENV))


def _problems(*files: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        _load(*files)
    return list(caught.value.problems)


WF = """
[workflow.{name}]
schedule = "@daily"

[workflow.{name}.task.only]
shell = "true"
"""


# settings and paths -------------------------------------------------------------


def test_paths_default_beside_the_config(tmp_path: Path) -> None:
    config = _write(tmp_path / "etc" / "tapri.toml", "[daemon]\ntimezone = 'Asia/Kolkata'\n")
    loaded = load_settings(config, environ=EMPTY_ENV)
    paths = loaded.paths
    assert paths.config_file == config
    assert paths.base_dir == tmp_path / "etc"
    assert paths.state_dir == tmp_path / "etc" / ".tapri"
    assert paths.log_dir == paths.state_dir / "logs"
    assert paths.socket == paths.state_dir / "tapri.sock"
    assert paths.db_path == paths.state_dir / "tapri.sqlite3"
    assert paths.lock_path == paths.state_dir / "tapri.lock"
    assert loaded.workflow_files == (tmp_path / "workflows.toml",)
    assert loaded.default_timezone == "Asia/Kolkata"


def test_paths_follow_systemd_variables(tmp_path: Path) -> None:
    config = _write(tmp_path / "tapri.toml", "")
    env = {
        "STATE_DIRECTORY": "/var/lib/tapri:/var/lib/other",
        "LOGS_DIRECTORY": "/var/log/tapri",
        "RUNTIME_DIRECTORY": "/run/tapri",
    }
    paths = load_settings(config, environ=env).paths
    assert paths.state_dir == Path("/var/lib/tapri")
    assert paths.log_dir == Path("/var/log/tapri")
    assert paths.socket == Path("/run/tapri/tapri.sock")


def test_configured_paths_win_and_resolve_against_the_config(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "conf" / "tapri.toml",
        '[daemon]\nstate_dir = "../state"\nlog_dir = "logs"\nsocket = "/tmp/t.sock"\n',
    )
    env = {"STATE_DIRECTORY": "/var/lib/tapri", "LOGS_DIRECTORY": "/var/log/tapri"}
    paths = load_settings(config, environ=env).paths
    assert paths.state_dir == tmp_path / "state"
    assert paths.log_dir == tmp_path / "conf" / "logs"
    assert paths.socket == Path("/tmp/t.sock")


def test_relative_python_path_and_log_file_become_absolute(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "conf" / "tapri.toml",
        '[daemon]\npython_path = ["../examples", "/opt/x"]\nlog_file = "tapri.log"\n',
    )
    daemon = load_settings(config, environ=EMPTY_ENV).settings.daemon
    assert daemon.python_path == (str(tmp_path / "examples"), "/opt/x")
    assert daemon.log_file == str(tmp_path / "conf" / "tapri.log")


def test_state_dir_override_wins(tmp_path: Path) -> None:
    config = _write(tmp_path / "tapri.toml", '[daemon]\nstate_dir = "s"\n')
    paths = load_settings(config, state_dir=tmp_path / "x", environ=EMPTY_ENV).paths
    assert paths.state_dir == tmp_path / "x"
    assert paths.db_path == tmp_path / "x" / "tapri.sqlite3"


def test_configuration_directory_is_the_default_config(tmp_path: Path) -> None:
    _write(tmp_path / "tapri.toml", '[daemon]\nworkflows = ["defs/*.toml"]\n')
    _write(tmp_path / "defs" / "b.toml", "")
    _write(tmp_path / "defs" / "a.toml", "")
    loaded = load_settings(None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path)})
    assert loaded.paths.config_file == tmp_path / "tapri.toml"
    assert loaded.workflow_files == (tmp_path / "defs" / "a.toml", tmp_path / "defs" / "b.toml")


def test_no_config_means_defaults_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(None, environ=EMPTY_ENV)
    assert loaded.paths.config_file is None
    assert loaded.paths.state_dir == tmp_path / ".tapri"
    assert loaded.workflow_files == (tmp_path / "workflows.toml",)


def test_bad_settings_file_is_located(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "tapri.toml", "[daemon]\nmax_paralel_tasks = 3\nshutdown_grace = 30\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ=EMPTY_ENV)
    text = [str(p) for p in caught.value.problems]
    assert any(":2:1: daemon.max_paralel_tasks:" in t and "max_parallel_tasks" in t for t in text)
    assert any(":3:1: daemon.shutdown_grace:" in t and "not a duration" in t for t in text)
    assert caught.value.exit_code == 78


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ=EMPTY_ENV)


def test_system_timezone_sources(tmp_path: Path) -> None:
    assert system_timezone({"TZ": ":Europe/Berlin"}, tmp_path) == "Europe/Berlin"
    assert system_timezone({}, tmp_path) == "UTC"
    _write(tmp_path / "timezone", "Asia/Kolkata\n")
    assert system_timezone({"TZ": "IST"}, tmp_path) == "Asia/Kolkata"
    (tmp_path / "timezone").unlink()
    os.symlink("/usr/share/zoneinfo/America/New_York", tmp_path / "localtime")
    assert system_timezone({}, tmp_path) == "America/New_York"


# definitions ------------------------------------------------------------------


def test_valid_fixture_loads_with_includes() -> None:
    main = FIXTURES / "valid" / "workflows.toml"
    loaded = _load(main)
    assert set(loaded.definitions.workflow) == {
        "rbi_daily_reporting",
        "irctc_tatkal",
        "monitoring",
        "manual_cleanup",
        "settlement",
    }
    more = FIXTURES / "valid" / "more"
    assert loaded.files == (main, more / "monitoring.toml", more / "settlement.toml")
    assert loaded.origins["workflow.monitoring"] == loaded.files[1]
    assert loaded.base_dir_of("irctc_tatkal") == main.parent
    assert loaded.definitions.defaults.retries == 2
    assert isinstance(loaded.definitions.workflow["irctc_tatkal"], Workflow)
    assert len(loaded.digest) == 64


def test_digest_changes_with_the_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "w.toml", WF.format(name="a"))
    before = _load(path).digest
    path.write_text(WF.format(name="a") + "# comment\n", encoding="utf-8")
    assert _load(path).digest != before


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.toml", WF.format(name="shared"))
    second = _write(tmp_path / "b.toml", "\n\n" + WF.format(name="shared"))
    [problem] = _problems(first, second)
    assert problem.file.endswith("b.toml")
    assert problem.line == 4
    assert f"{first.name}:2" in problem.message or "a.toml:2" in problem.message
    assert "b.toml:4" in problem.message


def test_defaults_in_two_files_is_an_error(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.toml", "[defaults]\nretries = 1\n" + WF.format(name="a"))
    second = _write(tmp_path / "b.toml", "[defaults]\nretries = 2\n")
    [problem] = _problems(first, second)
    assert problem.key == "defaults"
    assert "a.toml:1" in problem.message


def test_include_cycle_reads_each_file_once(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.toml", 'include = ["b.toml"]\n' + WF.format(name="a"))
    _write(tmp_path / "b.toml", 'include = ["a.toml"]\n' + WF.format(name="b"))
    loaded = _load(first)
    assert set(loaded.definitions.workflow) == {"a", "b"}
    assert len(loaded.files) == 2


def test_missing_include_is_located_at_the_include(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", '\ninclude = ["gone.toml"]\n' + WF.format(name="a"))
    [problem] = _problems(path)
    assert (problem.line, problem.key) == (2, "include[0]")
    assert "gone.toml" in problem.message


def test_glob_include_matching_nothing_is_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", 'include = "parts/*.toml"\n' + WF.format(name="a"))
    loaded = _load(path)
    [warning] = loaded.warnings
    assert warning.severity == "warning"
    assert warning.key == "include"


def test_many_problems_in_one_file_are_all_reported() -> None:
    problems = _problems(FIXTURES / "broken" / "many.toml")
    by_key = {p.key: p for p in problems}
    expected_lines = {
        "include[0]": 2,
        "defaults.timeout": 6,
        "workflow.cyclic.schedule": 12,
        "workflow.cyclic.flow": 13,
        "workflow.typos.schedule[0]": 25,
        "workflow.typos.timezone": 26,
        "workflow.typos.calendar": 27,
        "workflow.typos.task.extract.shell": 30,
        "workflow.typos.task.extract.retires": 31,
        "workflow.typos.task.load.after[0]": 35,
        "workflow.typos.task.load.at_fire": 36,
    }
    assert {key: by_key[key].line for key in expected_lines if key in by_key} == expected_lines
    assert "a -> b -> c -> a" in by_key["workflow.cyclic.flow"].message
    assert 'did you mean "retries"' in by_key["workflow.typos.task.extract.retires"].message
    assert 'did you mean "extract"' in by_key["workflow.typos.task.load.after[0]"].message
    assert 'did you mean "nse"' in by_key["workflow.typos.calendar"].message
    assert "Asia/Kolkata" in by_key["workflow.typos.timezone"].message
    assert "minute" in by_key["workflow.cyclic.schedule"].message
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)


def test_toml_syntax_error_is_located() -> None:
    [problem] = _problems(FIXTURES / "broken" / "syntax.toml")
    assert (problem.line, problem.col) == (3, 13)
    assert problem.message.startswith("TOML syntax error:")


def test_non_utf8_file_names_the_byte() -> None:
    [problem] = _problems(FIXTURES / "broken" / "latin1.toml")
    assert problem.line == 3
    assert "0xe9" in problem.message
    assert "UTF-8" in problem.message


def test_config_glob_matching_nothing_is_located(tmp_path: Path) -> None:
    config = _write(tmp_path / "tapri.toml", '[daemon]\nworkflows = ["defs/*.toml"]\n')
    with pytest.raises(ConfigError) as caught:
        load_definitions(load_settings(config, environ=EMPTY_ENV))
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (2, "daemon.workflows")


def test_missing_definitions_file(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path / "none.toml")
    assert problem.message == "file not found"


def test_a_broken_file_does_not_hide_problems_in_another(tmp_path: Path) -> None:
    broken = _write(tmp_path / "a.toml", "[workflow.a\n")
    other = _write(tmp_path / "b.toml", "[pool.p]\nslots = 0\n")
    problems = _problems(broken, other)
    assert [Path(p.file).name for p in problems] == ["a.toml", "b.toml"]


def test_unknown_top_level_table_gets_did_you_mean(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", "[workflows.a]\nschedule = '@daily'\n")
    [problem] = _problems(path)
    assert (problem.line, problem.key) == (1, "workflows")
    assert 'did you mean "workflow"' in problem.message


def test_task_key_on_a_workflow_points_to_defaults(tmp_path: Path) -> None:
    text = WF.format(name="a").replace('"@daily"', '"@daily"\nretries = 3')
    [problem] = _problems(_write(tmp_path / "a.toml", text))
    assert (problem.key, problem.line) == ("workflow.a.retries", 4)
    assert "[workflow.ID.defaults]" in problem.message


def test_bad_id_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", WF.format(name="Daily-Report"))
    problems = _problems(path)
    assert any("not a valid id" in p.message and "lowercase" in p.message for p in problems)


def test_literal_typo_gets_did_you_mean(tmp_path: Path) -> None:
    text = WF.format(name="a").replace('"@daily"', '"@daily"\non_holiday = "next_busines_day"')
    [problem] = _problems(_write(tmp_path / "a.toml", text))
    assert problem.key == "workflow.a.on_holiday"
    assert 'did you mean "next_business_day"' in problem.message


def test_bare_number_duration(tmp_path: Path) -> None:
    text = WF.format(name="a") + "timeout = 30\n"
    [problem] = _problems(_write(tmp_path / "a.toml", text))
    assert problem.key == "workflow.a.task.only.timeout"
    assert "not a duration" in problem.message


def test_a_broken_task_keeps_its_place_in_the_graph(tmp_path: Path) -> None:
    text = """
[workflow.w]
flow = ["a >> b >> c"]

[workflow.w.task.a]
shell = "true"

[workflow.w.task.b]
shell = "true"
python = "m:f"

[workflow.w.task.c]
shell = "echo {{ outputs.b.x }} {{ outputs.zz.y }}"
after = ["bb"]
"""
    problems = _problems(_write(tmp_path / "a.toml", text))
    messages = {p.key: p.message for p in problems}
    assert "exactly one of" in messages["workflow.w.task.b"]
    assert 'did you mean "b"' in messages["workflow.w.task.c.after[0]"]
    assert 'no task or race "zz"' in messages["workflow.w.task.c.shell"]
    assert len(problems) == 3


def test_settings_table_in_a_definitions_file_says_where_it_belongs(tmp_path: Path) -> None:
    [problem] = _problems(_write(tmp_path / "a.toml", "[daemon]\nmax_parallel_tasks = 2\n"))
    assert problem.key == "daemon"
    assert "config/tapri.toml" in problem.message


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes(b"\xef\xbb\xbf" + WF.format(name="a").encode())
    assert set(_load(path).definitions.workflow) == {"a"}
