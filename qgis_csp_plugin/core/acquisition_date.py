"""The acquisition month of a layer for encoders that take it: the user's date, a date in the file or
layer name (``LC08_L1TP_224078_20200518_…``, NAIP ``m_…_20200831``, ``2020-05-18``) or in the file's
metadata, else mid-year (July), said so."""

from __future__ import annotations

import calendar
import re
from datetime import date

from ..contract.schema import DEFAULT_MONTH

_DATE = re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")


def date_in_text(text: str) -> date | None:
    """The first valid calendar date ``YYYYMMDD`` / ``YYYY-MM-DD`` in ``text``, or None."""
    for match in _DATE.finditer(text):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


def acquisition_month(given: date | None, sources: list[tuple[str, str]]) -> tuple[int, str]:
    """``(month 1-12, where it came from)``: ``given``, else the first date in ``sources`` (what, text)
    pairs such as ("the file name", "LC08_…_20200518_…"), else :data:`DEFAULT_MONTH`."""
    if given is not None:
        return given.month, f"month {given.month} ({calendar.month_name[given.month]}) of the given date {given}"
    for what, text in sources:
        found = date_in_text(text)
        if found is not None:
            return found.month, f"month {found.month} ({calendar.month_name[found.month]}) from the date {found} in " \
                                f"{what}"
    return DEFAULT_MONTH, (f"month {DEFAULT_MONTH} ({calendar.month_name[DEFAULT_MONTH]}, mid-year): no acquisition "
                           "date in the file name or metadata; set the acquisition date if you know it")
