"""Durations and retry policies.

A retry policy is a pure function from the attempt that just failed to the
delay before the next one (or ``None``: give up). The delay becomes a durable
timer in the log, so a backoff never holds a worker.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

import attrs

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_SPEC = re.compile(r"^\s*(none|fixed|exponential)\s*(?:\((.*)\))?\s*$")


def to_timedelta(value: timedelta | int | float, what: str = "duration") -> timedelta:
    """A duration from a ``timedelta`` or a number of seconds; never negative."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise TypeError(f"{what} must be a timedelta or seconds, got {type(value).__name__}")
    if isinstance(value, timedelta):
        delta = value
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {value}")
        try:
            delta = timedelta(seconds=value)
        except OverflowError:
            raise ValueError(
                f"{what} is too large: {value:g} s (a timedelta holds at most "
                f"{timedelta.max.total_seconds():g} s)"
            ) from None
    if delta < timedelta(0):
        # In seconds: str() of a negative timedelta reads "-1 day, 23:59:57".
        raise ValueError(f"{what} must not be negative, got {delta.total_seconds():g} s")
    return delta


def parse_duration(text: str) -> timedelta:
    """``"250ms"``, ``"2s"``, ``"1.5m"``, ``"3h"``, ``"1d"``."""
    match = _DURATION.match(text)
    shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}..."
    if not match:
        raise ValueError(f"bad duration {shown}: expected a number and a unit (ms s m h d)")
    return to_timedelta(float(match.group(1)) * _UNITS[match.group(2)], f"duration {shown}")


def _check_retries(_: object, __: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"retries must be a non-negative integer, got {value!r}")


def _check_kind(_: object, __: attrs.Attribute[str], value: str) -> None:
    if value not in ("none", "fixed", "exponential"):
        raise ValueError(f"kind must be 'none', 'fixed' or 'exponential', got {value!r}")


# One named converter per field (mypy's attrs plugin takes no closures), so
# that a bad value built by hand is reported under its field's name.
def _delay(value: timedelta | int | float) -> timedelta:
    return to_timedelta(value, "delay")


def _max_delay(value: timedelta | int | float | None) -> timedelta | None:
    return None if value is None else to_timedelta(value, "max_delay")


def _multiplier(value: float) -> float:
    # NaN fails `>= 1`; infinity would make the first backoff past any date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"multiplier must be a number, got {type(value).__name__} {value!r}")
    if not (value >= 1.0 and math.isfinite(value)):
        raise ValueError(f"multiplier must be a finite number >= 1, got {value!r}")
    return float(value)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often a failing step is tried again, and how long to wait between.

    ``retries`` counts retries after the first attempt: ``exponential(5, 1s)``
    waits 1s, 2s, 4s, 8s, 16s and makes six attempts in all.
    """

    kind: str = attrs.field(validator=_check_kind)
    retries: int = attrs.field(default=0, validator=_check_retries)
    delay: timedelta = attrs.field(default=timedelta(0), converter=_delay)
    multiplier: float = attrs.field(default=2.0, converter=_multiplier)
    max_delay: timedelta | None = attrs.field(default=None, converter=_max_delay)

    @classmethod
    def none(cls) -> RetryPolicy:
        # One shared value (it is frozen): every step without a policy has it.
        return _NO_RETRY if cls is RetryPolicy else cls(kind="none")

    @classmethod
    def fixed(cls, retries: int, delay: timedelta | int | float) -> RetryPolicy:
        return cls(kind="fixed", retries=retries, delay=to_timedelta(delay, "retry delay"))

    @classmethod
    def exponential(
        cls,
        retries: int,
        initial: timedelta | int | float,
        multiplier: float = 2.0,
        max_delay: timedelta | int | float | None = None,
    ) -> RetryPolicy:
        return cls(
            kind="exponential",
            retries=retries,
            delay=to_timedelta(initial, "initial delay"),
            multiplier=multiplier,
            max_delay=None if max_delay is None else to_timedelta(max_delay, "max delay"),
        )

    @classmethod
    def parse(cls, spec: str | RetryPolicy | None) -> RetryPolicy:
        """Read ``"none"``, ``"fixed(3, 1s)"`` or ``"exponential(5, 1s[, 2.0[, 1m]])"``."""
        if spec is None:
            return cls.none()
        if isinstance(spec, RetryPolicy):
            return spec
        if not isinstance(spec, str):
            raise TypeError(f"retry must be a RetryPolicy or a string, got {type(spec).__name__}")
        # Quoted at most 60 characters long: the spec may be anything.
        quoted = repr(spec) if len(spec) <= 60 else f"{spec[:60]!r}... ({len(spec):,} characters)"
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(
                f"bad retry spec {quoted}: expected 'none', 'fixed(N, DELAY)' "
                "or 'exponential(N, INITIAL[, MULTIPLIER[, MAX]])'"
            )
        kind, inner = match.group(1), match.group(2)
        args = [a.strip() for a in inner.split(",")] if inner and inner.strip() else []
        try:
            return cls._from_args(kind, args)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"bad retry spec {quoted}: {exc}") from None

    @classmethod
    def _from_args(cls, kind: str, args: list[str]) -> RetryPolicy:
        if kind == "none":
            if args:
                raise ValueError("'none' takes no arguments")
            return cls.none()
        if not args or not args[0].isdigit():
            raise ValueError("the first argument must be a whole number of retries")
        if kind == "fixed":
            if len(args) != 2:
                raise ValueError("'fixed' takes (retries, delay)")
            return cls.fixed(int(args[0]), parse_duration(args[1]))
        if not 2 <= len(args) <= 4:
            raise ValueError("'exponential' takes (retries, initial[, multiplier[, max]])")
        multiplier = float(args[2]) if len(args) > 2 else 2.0
        max_delay = parse_duration(args[3]) if len(args) > 3 else None
        return cls.exponential(int(args[0]), parse_duration(args[1]), multiplier, max_delay)

    def delay_after(self, attempts: int) -> timedelta | None:
        """The wait after ``attempts`` failed attempts, or None when spent."""
        if self.kind == "none" or attempts > self.retries:
            return None
        if self.kind == "fixed":
            return self.delay
        try:
            delay = self.delay * (self.multiplier ** (attempts - 1))
        except OverflowError:  # past what a timedelta holds; max_delay still caps it
            delay = timedelta.max
        if self.max_delay is not None and delay > self.max_delay:
            return self.max_delay
        return delay

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "fixed":
            return f"fixed({self.retries}, {self.delay.total_seconds():g}s)"
        text = f"exponential({self.retries}, {self.delay.total_seconds():g}s, {self.multiplier:g}"
        if self.max_delay is not None:
            text += f", {self.max_delay.total_seconds():g}s"
        return text + ")"


_NO_RETRY = RetryPolicy(kind="none")
