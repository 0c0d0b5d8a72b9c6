"""Markdown rendering cost on adversarial inputs: time per KB at 1, 5, 10 and 20 KB must stay flat.

Run with `make bench`. Each input family is rendered at each size (best of several runs, the cache
bypassed); the script prints milliseconds per KB and the ratio of the 20 KB cost per KB to the 1 KB one.
Linear growth keeps that ratio near 1; quadratic growth makes it about 20. It exits non-zero when a
ratio passes MAX_RATIO or any input at the largest accepted size takes more than MAX_MS.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from incident.cases.fields import NOTE_MAX
from incident.text import _render

SIZES_KB = (1, 5, 10, 20)
MAX_RATIO = 3.0
#: The budget for one note of the largest size the app accepts (NOTE_MAX characters).
MAX_MS = 100.0
REPEATS = 5


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


#: Each family builds a text of about `n` characters.
FAMILIES: dict[str, Callable[[int], str]] = {
    "nested brackets": lambda n: "[" * (n * 9 // 10) + "](" * (n // 20),
    "open brackets then links": lambda n: "[" * (n // 2) + "[a](b)" * (n // 12),
    "emphasis runs": lambda n: _fill("*a_", n),
    "mixed emphasis": lambda n: _fill("**a*b__c_", n),
    "long link chain": lambda n: _fill("[a](https://example.jp/x)", n),
    "link titles": lambda n: _fill('[a](b "t") ', n),
    "deep list": lambda n: "".join("  " * min(i, 40) + "- x\n" for i in range(n // 60)),
    "deep quotes": lambda n: ">" * n,
    "quote lines": lambda n: _fill("> > > > a\n", n),
    "backticks": lambda n: "`" * (n // 2) + "a" + "``" * (n // 4),
    "angle brackets": lambda n: "<" * n,
    "tag-like text": lambda n: _fill("<b>x</b><a href='y'>", n),
    "table cells": lambda n: "|a" * (n // 6) + "\n" + "|-" * (n // 6) + "\n" + "|b" * (n // 6),
    "table rows": lambda n: "|a|b|\n|-|-|\n" + _fill("|x|y|\n", n),
    "bare URLs": lambda n: _fill("www.a.jp ", n),
    "CJK with markup": lambda n: _fill("炎上*偽**アカウント_「**強調**」", n),
    "CJK plain": lambda n: _fill("石巻市の公式アカウントになりすましたアカウントが確認されました。", n),
}


def _best_ms(text: str) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        _render.__wrapped__(text)  # type: ignore[attr-defined]  (bypass the cache)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> int:
    """Print the table and return 1 when any family grows faster than linearly or is too slow."""
    failures = []
    header = "".join(f"{kb:>6} KB" for kb in SIZES_KB)
    print(f"{'input (ms per KB)':<26}{header}   ratio  max-size ms")
    for name, build in FAMILIES.items():
        per_kb = [_best_ms(build(kb * 1024)) / kb for kb in SIZES_KB]
        ratio = per_kb[-1] / max(per_kb[0], 1e-6)
        largest = _best_ms(build(NOTE_MAX))
        cells = "".join(f"{value:9.3f}" for value in per_kb)
        print(f"{name:<26}{cells}   {ratio:5.2f}  {largest:9.2f}")
        if ratio > MAX_RATIO:
            failures.append(f"{name}: cost per KB grew {ratio:.1f}x from 1 KB to 20 KB")
        if largest > MAX_MS:
            failures.append(f"{name}: {largest:.0f} ms at {NOTE_MAX} characters")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print("markdown: linear" if not failures else "markdown: NOT linear")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
