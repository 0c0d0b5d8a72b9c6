"""Blank-finding cost on adversarial bracket runs: time per KB at 1, 5, 10 and 20 KB must stay flat.

Run with `make bench`. The draft page and every submit look for ［…］ blanks; a quadratic scan of a long run
of brackets would make a pasted text stall the page. Linear growth keeps the ratio of the 20 KB cost per
KB to the 1 KB one near 1; quadratic growth makes it about 20. Exits non-zero past MAX_RATIO.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from incident.drafts.blanks import find_blanks, segments

SIZES_KB = (1, 5, 10, 20)
MAX_RATIO = 3.0
REPEATS = 5

FAMILIES: dict[str, Callable[[int], str]] = {
    "opens then closes": lambda n: "［" * (n // 2) + "］" * (n // 2),
    "many blanks": lambda n: "［記入］" * (n // 4),
    "closes only": lambda n: "］" * n,
    "opens then text": lambda n: "［" * n + "記入",
    "half-width": lambda n: "[" * (n // 2) + "]" * (n // 2),
}


def _best_ms(text: str) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        find_blanks(text)
        segments(text)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> int:
    """Print the table and return 1 when any family grows faster than linearly."""
    failures = []
    print(f"{'input (ms per KB)':<22}" + "".join(f"{kb:>6} KB" for kb in SIZES_KB) + "   ratio")
    for name, build in FAMILIES.items():
        per_kb = [_best_ms(build(kb * 1024)) / kb for kb in SIZES_KB]
        ratio = per_kb[-1] / max(per_kb[0], 1e-6)
        print(f"{name:<22}" + "".join(f"{value:9.3f}" for value in per_kb) + f"   {ratio:5.2f}")
        if ratio > MAX_RATIO:
            failures.append(f"{name}: cost per KB grew {ratio:.1f}x from 1 KB to 20 KB")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print("blanks: linear" if not failures else "blanks: NOT linear")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
