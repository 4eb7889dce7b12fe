#!/usr/bin/env python3
"""Fails when a hand-written C++ file under kafka/, log/, mirror/, offsets/,
linker/ or src/ is over 500 lines, or a function in one is over 80 lines
(ARCHITECTURE.md, "Small files with one job"). Tables of data are allowed to
be long: a function whose body is one switch of `case X: return ...;` lines
is a table. Functions are found the way the repo's .clang-format writes them:
a definition starts at column 0 and ends at the next `}` at column 0."""
import re
import sys
from pathlib import Path

MAX_FILE = 500
MAX_FUNCTION = 80
FOLDERS = ["kafka", "log", "mirror", "offsets", "linker", "src"]
START = re.compile(r"^[A-Za-z_][^;]*\(")


def is_table(body: list[str]) -> bool:
    code = [l.strip() for l in body if l.strip() and not l.strip().startswith("//")]
    cases = sum(1 for l in code if l.startswith("case ") or l.startswith("return "))
    return cases > 0.8 * len(code)


def functions(lines: list[str]):
    i = 0
    while i < len(lines):
        line = lines[i]
        if START.match(line) and not line.startswith(("namespace", "struct", "class", "enum", "#")):
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
                j += 1
            if j >= len(lines) or lines[j].rstrip().endswith(";"):
                i = j + 1
                continue
            k = j + 1
            while k < len(lines) and not lines[k].startswith("}"):
                k += 1
            yield i + 1, lines[i].strip(), lines[j + 1 : k]
            i = k
        i += 1


def main(root: Path) -> int:
    problems = []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".h", ".cpp"):
                continue
            lines = path.read_text().splitlines()
            rel = path.relative_to(root)
            if len(lines) > MAX_FILE:
                problems.append(f"{rel}: {len(lines)} lines (limit {MAX_FILE})")
            for start, head, body in functions(lines):
                if len(body) > MAX_FUNCTION and not is_table(body):
                    problems.append(f"{rel}:{start}: function of {len(body)} lines: {head[:70]}")
    for p in problems:
        print(p)
    if not problems:
        print(f"every file <= {MAX_FILE} lines, every function <= {MAX_FUNCTION} lines")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
