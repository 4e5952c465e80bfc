"""The effective limits of a cloud for one group (semantics.md, "Boot"): -1 means unset.

cores = min(cores control, soft-max - foreign cores, quota - foreign cores); RAM = min(RAM control,
quota - foreign RAM). Foreign usage is what other groups and outsiders use in the same project.
"""

from __future__ import annotations


def effective_limit(control: int, *caps: tuple[int, int]) -> int:
    """``control`` and each ``(cap, foreign)`` pair with -1 as unset; the smallest set value, or -1."""
    values = [control] if control >= 0 else []
    values += [max(0, cap - foreign) for cap, foreign in caps if cap >= 0]
    return min(values) if values else -1
