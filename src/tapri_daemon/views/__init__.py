"""How stored runs are shown: JSON documents, rich tables, a terminal Gantt, Mermaid.

Everything here is pure: records (and ``now`` / a time zone) in, text or data out.

    documents.py  run summaries and the `run --json` / `show --json` documents
    tables.py     rich tables: runs, a run's tasks
    gantt.py      a run's attempts on a time axis, drawn with rich
    mermaid.py    the same timeline as a Mermaid gantt
    styles.py     colours and glyphs per state and outcome
"""
