"""An AttemptRequest from a task: templates rendered, secrets expanded, paths chosen."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tapri_daemon.credentials import Sources, hold
from tapri_daemon.engine import templates
from tapri_daemon.engine.live import LiveRun
from tapri_daemon.interfaces import JSON, AttemptRequest, RunInfo
from tapri_daemon.model import Definitions, Task

Context = Mapping[str, Any] | None
_SQLITE = "sqlite:///"


def run_info(live: LiveRun, attempt: int) -> tuple[RunInfo, dict[str, JSON]]:
    """What a task sees of its run at this attempt number, and its ``as_dict`` (cached)."""
    found = live.run_infos.get(attempt)
    if found is None:
        info = _run_info(live, attempt)
        found = live.run_infos[attempt] = (info, info.as_dict())
    return found


def _run_info(live: LiveRun, attempt: int) -> RunInfo:
    setup = live.setup
    record = setup.record
    return RunInfo(
        run_id=record.run_id,
        workflow=record.workflow,
        logical_date=record.logical_date,
        data_interval_start=setup.interval_start,
        data_interval_end=setup.interval_end,
        trigger=record.trigger,
        attempt=attempt,
        timezone=setup.zone.key,
    )


def database_url(definitions: Definitions, name: str | None, base_dir: Path | None) -> str | None:
    """A [database.NAME]'s URL (or the URL given); relative sqlite paths from ``base_dir``."""
    if name is None:
        return None
    url = definitions.database[name].url if name in definitions.database else name
    path = url[len(_SQLITE) :] if url.startswith(_SQLITE) else url
    if base_dir is None or "://" in path or Path(path).is_absolute() or path == ":memory:":
        return url
    return _SQLITE + str(base_dir / path)


def working_dir(cwd: str | None, base_dir: Path | None) -> str | None:
    """A task's ``cwd``; a relative one is taken from the workflow file's folder."""
    if cwd is None or base_dir is None or Path(cwd).is_absolute():
        return cwd
    return str(base_dir / cwd)


def _render_env(
    values: Mapping[str, str], context: Context, renderer: templates.Renderer, sources: Sources
) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    secrets: list[str] = []
    for key, raw in values.items():
        held = hold(raw, sources)
        text = renderer.render(held.text, context) if context is not None else held.text
        env[key] = held.restore(text)
        secrets.extend(held.secrets)
    return env, secrets


def _http(task: Task, context: Context, renderer: templates.Renderer) -> dict[str, JSON]:
    assert task.http is not None
    request: dict[str, JSON] = task.http.model_dump(by_alias=True)
    if context is None:
        return request
    rendered = renderer.render_value(request, context)
    assert isinstance(rendered, dict)
    rendered["method"] = request["method"]
    rendered["expect_status"] = request["expect_status"]
    return rendered


def _kind_fields(
    live: LiveRun, task_id: str, run: dict[str, JSON], context: Context
) -> dict[str, Any]:
    task = live.shape.workflow.task[task_id]
    renderer = live.services.renderer
    kind = live.shape.kind(task_id)
    if kind == "command":
        assert task.command is not None
        argv = renderer.argv(task.command, context) if context is not None else task.command
        return {"argv": argv}
    if kind == "shell":
        assert task.shell is not None
        script = renderer.shell(task.shell, context) if context is not None else task.shell
        return {"argv": ("/bin/sh", "-c", script)}
    if kind == "python":
        args = renderer.render_value(task.args, context) if context is not None else task.args
        injected = {
            "params": live.setup.record.params,
            "outputs": live.outputs_for(task_id),
            "run": run,
        }
        return {"kwargs": {**injected, **(args or {})}}
    if kind == "sql":
        bound = task.sql_params
        if context is not None:
            bound = renderer.render_value(bound, context)
        url = database_url(live.shape.definitions, task.database, live.setup.base_dir)
        return {"sql": task.sql, "sql_params": bound, "database_url": url}
    return {"http": _http(task, context, renderer)}


def _context(live: LiveRun, task_id: str, run: RunInfo) -> Context:
    if not live.shape.templated(task_id):
        return None
    return templates.context(
        run=run,
        params=live.setup.record.params,
        outputs=live.outputs_for(task_id),
        zone=live.setup.zone,
        is_working_day=live.setup.is_working_day,
    )


def build_request(live: LiveRun, task_id: str, attempt: int) -> AttemptRequest:
    """Render and expand everything one attempt needs (TemplateError / SecretError)."""
    setup = live.setup
    settings = live.settings(task_id)
    run, run_dict = run_info(live, attempt)
    context = _context(live, task_id, run)
    fields = _kind_fields(live, task_id, run_dict, context)
    env, secrets = _render_env(settings.env, context, live.services.renderer, setup.sources)
    live.secrets.update(s for s in secrets if s)
    return AttemptRequest(
        task_id=task_id,
        task=setup.shape.workflow.task[task_id],
        run=run,
        attempt=attempt,
        env=env,
        secrets=tuple(secrets),
        cwd=working_dir(settings.cwd, setup.base_dir),
        log_path=f"{live.log_folder}/{task_id}.{attempt}.log",
        timeout=settings.timeout.total_seconds() if settings.timeout is not None else None,
        kill_grace=settings.kill_grace.total_seconds(),
        output_limit=settings.output_limit,
        log_limit=settings.log_limit,
        python_path=setup.python_path,
        **fields,
    )
