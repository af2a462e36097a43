"""Durable state: the SQLite store, its in-memory twin, and crash recovery.

codec.py     records <-> rows (integer µs UTC datetimes, JSON text)
schema.py    DDL and versioned migrations (PRAGMA user_version)
sqlite.py    SQLiteStore: WAL, BEGIN IMMEDIATE, connections, reads with retry
writer.py    group commit: one writer thread, one transaction per batch
checkpoint.py  WAL checkpoints beside the writer, so no commit waits for one
memory.py    MemoryStore: the same behaviour in memory, for unit tests
stats.py     per-workflow figures (run_stats), pure
recovery.py  a dead daemon's leftovers: lost attempts, leftover process groups
"""

from __future__ import annotations

from tapri_daemon.store.memory import MemoryStore

__all__ = ["MemoryStore"]
