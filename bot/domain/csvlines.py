"""The rows of an uploaded CSV with their physical line numbers, for refusals by line (SPEC §4)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator


class CsvDecodeError(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: not UTF-8")
        self.line = line


def csv_rows(data: bytes, header: tuple[str, ...]) -> Iterator[tuple[int, list[str], list[str]]]:
    """(physical line, stripped cells, raw cells) of each row that is not blank; a first row
    equal to `header` (any case) is skipped. A quoted cell may span lines: the row's line is
    where it starts. UTF-8, a BOM allowed; anything else raises `CsvDecodeError` with the line.
    """
    # The BOM is dropped by hand: with `utf-8-sig` the error offset would not count it, and
    # the line number would be off by one when the bad byte follows a newline closely.
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvDecodeError(body[: exc.start].count(b"\n") + 1) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for record in reader:
        start = line
        line = reader.line_num + 1
        cells = [cell.strip() for cell in record]
        if not any(cells):
            continue
        if start == 1 and tuple(c.lower() for c in cells) == header:
            continue
        yield start, cells, record
