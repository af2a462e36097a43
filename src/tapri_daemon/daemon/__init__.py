"""The long-running service: APScheduler triggers, precise firing, control socket, systemd.

scheduler.py  APScheduler 3.11 wiring (its only import): one job per workflow
firing.py     pure fire decisions: catch-up counts, max_active_runs queue/skip
precise.py    the precise Clock (coarse sleep, then spin) and adjtimex clock health
jumps.py      wall-clock jump and suspend detection (pure, samples passed in)
runs.py       fires -> recorded fires -> runs in the daemon's task group
control.py    the Unix-socket JSON-lines server and its client
systemd.py    sd_notify and the watchdog period (stdlib only)
lock.py       the state-dir lock (one daemon per state dir)
service.py    composition root: exit stack, signal loop, reload
"""
