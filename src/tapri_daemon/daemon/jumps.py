"""Wall-clock jumps and suspend, detected by comparing the wall clock with monotonic clocks.

``CLOCK_MONOTONIC`` neither jumps nor counts suspended time; ``CLOCK_BOOTTIME`` counts
suspended time; the wall clock does both and may also be stepped (NTP, ``date -s``). Between
two samples the wall clock should advance as much as the monotonic clock; a difference
larger than the threshold is a jump. When ``CLOCK_BOOTTIME`` advanced as much as the wall
clock, the machine was suspended rather than the clock stepped.

``detect`` is pure (samples passed in); ``JumpWatch`` keeps the previous sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

JumpKind = Literal["forward", "backward", "suspend"]

DEFAULT_THRESHOLD = 0.5
"""Seconds of divergence that count as a jump (samples are taken every ``INTERVAL``)."""
INTERVAL = 0.5


@dataclass(frozen=True, kw_only=True)
class Sample:
    wall: float
    monotonic: float
    boottime: float

    @classmethod
    def take(cls) -> Sample:
        return cls(
            wall=time.time(),
            monotonic=time.monotonic(),
            boottime=time.clock_gettime(time.CLOCK_BOOTTIME),
        )


@dataclass(frozen=True, kw_only=True)
class Jump:
    kind: JumpKind
    offset: float
    """Seconds the wall clock moved beyond the monotonic clock (negative: backwards)."""


def detect(before: Sample, after: Sample, threshold: float = DEFAULT_THRESHOLD) -> Jump | None:
    """The jump between two samples, or None when the clocks agree within ``threshold``."""
    offset = (after.wall - before.wall) - (after.monotonic - before.monotonic)
    if abs(offset) <= threshold:
        return None
    slept = (after.boottime - before.boottime) - (after.monotonic - before.monotonic)
    if offset > 0 and abs(slept - offset) <= threshold:
        return Jump(kind="suspend", offset=offset)
    return Jump(kind="forward" if offset > 0 else "backward", offset=offset)


class JumpWatch:
    """Feed samples in order; each call reports the jump since the previous one."""

    def __init__(self, first: Sample, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._last = first
        self.threshold = threshold

    def check(self, sample: Sample) -> Jump | None:
        jump = detect(self._last, sample, self.threshold)
        self._last = sample
        return jump
