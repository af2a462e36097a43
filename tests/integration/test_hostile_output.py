"""Whatever a task prints or raises, every line tapri logs stays one valid JSON object.

Hostile output: NUL bytes, invalid UTF-8, terminal escapes, a carriage return, a 2 MB line
with no newline, and the same bytes in an exception message and in the task's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKFLOWS = r"""
[workflow.hostile]
[workflow.hostile.task.bytes]
shell = '''
printf 'nul:\000 bad:\377\376 esc:\033[31mred\033[0m\033]0;title\007 cr:\r overwrite\n'
head -c 2000000 /dev/zero | tr '\0' 'x'
printf '\nlast \033[2J\000\377 line\n'
'''

[workflow.hostile.task.raises]
python = "hostile_tasks:explode"

[workflow.hostile.task.outputs]
python = "hostile_tasks:weird_output"
"""

MODULE = r"""
def explode():
    raise RuntimeError("boom \x00 \x1b[31m\udcff \r\n second line")


async def weird_output():
    return {"text": "\x00\x1b]0;t\x07\u202e", "lines": "a\r\nb"}
"""


def _run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "workflows.toml").write_text(WORKFLOWS)
    (tmp_path / "hostile_tasks.py").write_text(MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPRI_")}
    return subprocess.run(
        [sys.executable, "-m", "tapri_daemon", "run", "hostile", "--json",
         "--workflows", str(tmp_path / "workflows.toml"), "--state-dir", str(tmp_path / "s")],
        cwd=tmp_path, env=env, capture_output=True, text=True, errors="strict", timeout=120,
    )  # fmt: skip


def test_hostile_task_bytes_never_break_the_structured_log(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]  # `raises` fails the run
    lines = done.stderr.splitlines()
    events = [json.loads(line) for line in lines]  # every line parses, or this raises
    assert all(isinstance(e, dict) and "event" in e for e in events)
    finished = {e["task_id"]: e for e in events if e["event"] == "task.finished"}
    assert finished["bytes"]["outcome"] == "success"
    assert finished["raises"]["outcome"] == "failed"
    assert "RuntimeError: boom" in finished["raises"]["error"]
    document = json.loads(done.stdout)
    assert document["tasks"]["bytes"]["output"].startswith("last ")
    assert document["tasks"]["outputs"]["output"]["lines"] == "a\r\nb"
