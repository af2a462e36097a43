"""Files -> validated model, with every problem located.

source.py             one TOML file: bytes -> text -> data, key index (or a Problem)
locate.py             key path -> line:column, by scanning the TOML text
settings.py           config/tapri.toml -> Settings, Paths, the definition files
pieces.py             one file's data -> validated models, piece by piece
pydantic_problems.py  pydantic errors -> located Problems with did-you-mean
load.py               all files + includes -> merged Definitions (the entry points)
check.py              cross-checks of the merged set -> Findings
templates.py          template checks (names a task may use)
timing_checks.py      schedules and calendars, via tapri_daemon.timing
schema.py             the JSON Schema of both file kinds
"""
