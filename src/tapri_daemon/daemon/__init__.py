"""The long-running service: APScheduler triggers, precise firing, control socket, systemd.

    service.py    composition root: start order, exit stack, signal loop, reload, status
    parts.py      store (+ recovery), executors, notifier, engine, opened on the exit stack
    scheduler.py  APScheduler 3.11 wiring (its only import): one job per workflow
    fires.py      a due instant -> recorded fire -> run (catch-up, overlap, pause)
    firing.py     pure fire decisions: catch-up counts, max_active_runs queue/skip
    runs.py       runs in the daemon's task group; manual triggers, resume, cancel
    precise.py    the precise Clock (coarse sleep, then spin) and adjtimex clock health
    jumps.py      wall-clock jump and suspend detection (pure, samples passed in)
    control.py    the Unix-socket JSON-lines server and its client
    verbs.py      the control verbs (trigger, pause, unpause, cancel, retry, reload, status)
    reload.py     definition snapshots, their diff, the file watch
    loops.py      watchdog/status, clock-jump and file-watch loops
    systemd.py    sd_notify and the watchdog period (stdlib only)
    lock.py       the state-dir lock (one daemon per state dir)

Only scheduler.py imports apscheduler; service.py and parts.py compose the rest.
"""
