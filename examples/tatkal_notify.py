"""Tatkal ka result bhejo: ``python3 -m tatkal_notify --pnr 1234567890``.

A small command-line program (the ``notify`` task of ``irctc_tatkal`` runs it as a
``command`` task). It needs only the standard library. It prints the message and, when
tapri sets ``$TAPRI_OUTPUT``, writes its result there as JSON (the task's output).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any


def message(pnr: str, journey_date: str | None = None) -> str:
    """WhatsApp/e-mail text (simulated channels: printed, not sent)."""
    if not pnr or pnr.lower() in {"none", "null"}:
        return "TATKAL BOOKING FAILED: no PNR. Suggestion: try another date or train."
    when = f" for {journey_date}" if journey_date else ""
    return f"TATKAL BOOKING SUCCESSFUL{when}! PNR {pnr}, Mumbai Central -> New Delhi, 12952."


def result(pnr: str, journey_date: str | None = None) -> dict[str, Any]:
    """The JSON this program reports as its output."""
    text = message(pnr, journey_date)
    return {
        "notified": True,
        "booked": text.startswith("TATKAL BOOKING SUCCESSFUL"),
        "pnr": pnr,
        "channels": ["whatsapp", "email", "telegram"],
        "message": text,
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tatkal_notify", description=__doc__)
    parser.add_argument("--pnr", required=True, help="PNR of the winning booking")
    parser.add_argument("--date", default=None, help="journey date, YYYY-MM-DD")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    outcome = result(args.pnr, args.date)
    print(outcome["message"])
    target = os.environ.get("TAPRI_OUTPUT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(outcome, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
