"""What the executors change about the daemon process itself, once, at Dispatcher creation.

- ``enable_subreaper()``: ``prctl(PR_SET_CHILD_SUBREAPER, 1)``. A process whose parent exits
  is then reparented to the daemon instead of init, so a task's daemonised grandchild
  stays findable (a child of the daemon that tapri did not spawn) and killable. It needs
  no privilege; on a kernel or libc without it the executors fall back to scanning /proc.
- ``raise_open_files()``: the soft RLIMIT_NOFILE goes up to the hard limit (systemd gives
  services soft 1024 / hard 524288 by default). Children inherit the raised soft limit.
- ``process_slots()``: how many process attempts the daemon reads the pipes of itself: each
  takes ``FDS_PER_PROCESS`` descriptors while it runs; a reserve stays for the store,
  sockets, notifiers, relays and the short-lived descriptors of a spawn. Beyond it, relay
  processes read the pipes (``outlets.py``), so nothing fails with "too many open files".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource

PR_SET_CHILD_SUBREAPER = 36
FDS_PER_PROCESS = 2
"""The read ends of the stdout and stderr pipes; the log file is opened per write."""


def enable_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans; False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def raise_open_files() -> int:
    """Raise the soft open-file limit to the hard one; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def process_slots(open_files: int) -> int:
    """Process attempts that fit in ``open_files`` descriptors, keeping a reserve."""
    reserve = 64 + open_files // 16
    return max(1, (open_files - reserve) // FDS_PER_PROCESS)
