"""The fields of a cron expression: checks that name the field, and warnings.

cronsim evaluates the expression; its errors are generic ("Bad minute"), so every field is
checked here first, term by term, to say exactly what is wrong and where. The grammar is
cronsim's (Debian/Vixie cron plus ``L``, ``LW``, ``5L`` and ``5#2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tapri_daemon.errors import suggest

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class FieldProblem(ValueError):
    """One field is wrong; the message starts with the field's name."""


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0

    def fail(self, reason: str) -> FieldProblem:
        return FieldProblem(f"{self.name} field: {reason}")

    @property
    def size(self) -> int:
        return self.high - self.low + 1


SECOND = FieldSpec(name="second", low=0, high=59)
MINUTE = FieldSpec(name="minute", low=0, high=59)
HOUR = FieldSpec(name="hour", low=0, high=23)
DAY_OF_MONTH = FieldSpec(name="day-of-month", low=1, high=31)
MONTH = FieldSpec(name="month", low=1, high=12, names=_MONTHS, name_base=1)
DAY_OF_WEEK = FieldSpec(name="day-of-week", low=0, high=7, names=_DAYS)
FIVE = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)
SIX = (SECOND, *FIVE)
_NTH = re.compile(r"^(\w+)#(\d+)$")
_LAST_DOW = re.compile(r"^(\d+)L$")


def specs_for(parts: list[str]) -> tuple[FieldSpec, ...]:
    return FIVE if len(parts) == 5 else SIX


def check_fields(parts: list[str]) -> None:
    """Raise FieldProblem for the first bad term of a 5- or 6-field expression."""
    for spec, text in zip(specs_for(parts), parts, strict=True):
        for term in text.split(","):
            _check_term(spec, term)


def _check_term(spec: FieldSpec, term: str) -> None:
    if term == "":
        raise spec.fail("empty item in a list (two commas, or a comma at an end)")
    base, slash, step = term.partition("/")
    if slash:
        _check_step(spec, base, step)
    if base == "*" or _special(spec, base):
        return
    low_text, dash, high_text = base.partition("-")
    low = value(spec, low_text)
    if dash and value(spec, high_text) < low:
        raise spec.fail(
            f"range {base} is backwards (write {high_text}-{low_text}, "
            f"or two ranges such as {low_text}-{spec.high},{spec.low}-{high_text})"
        )


def _check_step(spec: FieldSpec, base: str, step: str) -> None:
    if not step.isdigit():
        raise spec.fail(f'step "{step}" is not a whole number')
    if int(step) == 0:
        raise spec.fail("step 0 never advances; use a step of 1 or more")
    if _special(spec, base):
        raise spec.fail(f'a step cannot follow "{base}"')


def _special(spec: FieldSpec, base: str) -> bool:
    upper = base.upper()
    if spec is DAY_OF_MONTH and upper in ("L", "LW"):
        return True
    if spec is not DAY_OF_WEEK:
        return False
    if match := _LAST_DOW.match(upper):
        value(spec, match.group(1))
        return True
    if match := _NTH.match(upper):
        value(spec, match.group(1))
        if not 1 <= int(match.group(2)) <= 5:
            raise spec.fail(f"{base}: the week number after # must be 1-5")
        return True
    return False


def value(spec: FieldSpec, text: str) -> int:
    """One number or name of a field, range-checked."""
    if text.lower() in spec.names:
        return spec.names.index(text.lower()) + spec.name_base
    if not text.isdigit():
        raise spec.fail(_not_a_value(spec, text))
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise spec.fail(f"{number} is out of range {spec.low}-{spec.high}")
    return number


def _not_a_value(spec: FieldSpec, text: str) -> str:
    if not text:
        return "a value is missing (a range needs two ends, a step needs a start)"
    if not spec.names:
        return f'"{text}" is not a number {spec.low}-{spec.high}'
    kind = "month" if spec is MONTH else "day"
    shown = ", ".join(spec.names)
    hint = suggest(text.lower(), spec.names)
    return f'"{text}" is not a number {spec.low}-{spec.high} or a {kind} name ({shown}){hint}'


def never_fires(days: set[int], months: set[int]) -> str | None:
    """Why a day-of-month AND month combination can never happen, or None."""
    plain = {day for day in days if day > 0}
    if len(plain) != len(days) or not plain or not months:
        return None
    longest = max(_DAYS_IN_MONTH[month - 1] for month in months)
    if min(plain) <= longest:
        return None
    shown = ", ".join(_MONTHS[month - 1] for month in sorted(months))
    return f"never fires: day-of-month {min(plain)} does not occur in {shown}"


def warnings_for(parts: list[str]) -> list[str]:
    """Legal but surprising: uneven steps, and day-of-month OR day-of-week."""
    found: list[str] = []
    for spec, text in zip(specs_for(parts), parts, strict=True):
        found.extend(_step_warning(spec, term) for term in text.split(",") if "/" in term)
    dom, dow = parts[-3], parts[-1]
    if not dom.startswith("*") and not dow.startswith("*"):
        found.append(
            f"day-of-month ({dom}) and day-of-week ({dow}) are both restricted: as in Vixie "
            "cron it runs on days matching EITHER one, not both"
        )
    return [warning for warning in found if warning]


def _step_warning(spec: FieldSpec, term: str) -> str:
    base, _, step_text = term.partition("/")
    full = f"{spec.low}-{spec.high}"
    if spec in (DAY_OF_MONTH, DAY_OF_WEEK) or base not in ("*", full):
        return ""
    step = int(step_text)
    if spec.size % step == 0:
        return ""
    last = spec.low + (spec.size - 1) // step * step
    if step >= spec.size:
        return f"{term}: the step {step} is not smaller than the {spec.name} range {full}"
    return (
        f"{term} in the {spec.name} field does not divide {spec.size} evenly: runs at "
        f"{_mark(spec, spec.low)} and {_mark(spec, last)} are {spec.size - (last - spec.low)} "
        f"{_unit(spec)} apart"
    )


def _mark(spec: FieldSpec, number: int) -> str:
    if spec is HOUR:
        return f"{number:02d}:00"
    if spec is MONTH:
        return _MONTHS[number - 1]
    return f":{number:02d}"


def _unit(spec: FieldSpec) -> str:
    return {"second": "seconds", "minute": "minutes", "hour": "hours"}.get(spec.name, "months")
