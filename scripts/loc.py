#!/usr/bin/env python3
"""Production size of the crate: lines of src/ and cli/src/ that are neither tests nor comments nor blank, the
longest functions, and the files that name each target kind. Issue 33's before-and-after measure.

    python3 scripts/loc.py            # totals and the 5 longest functions
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def production_files():
    for base in ("src", "cli/src"):
        for path in sorted((ROOT / base).rglob("*.rs")):
            rel = path.relative_to(ROOT).as_posix()
            if "/testing/" in rel or rel.endswith("_tests.rs") or rel.endswith("/tests.rs"):
                continue
            yield rel, path.read_text()


def strip_test_modules(lines):
    """Drop `#[cfg(test)]` items (a module or a function) by brace matching."""
    out, skip, depth, opened = [], False, 0, False
    for line in lines:
        if not skip and line.strip().startswith("#[cfg(test)]"):
            skip, depth, opened = True, 0, False
            continue
        if skip:
            depth += line.count("{") - line.count("}")
            opened = opened or "{" in line
            if line.rstrip().endswith(";") and not opened:
                skip = False
            elif opened and depth <= 0:
                skip = False
            continue
        out.append(line)
    return out


def code_lines(lines):
    return [l for l in lines if l.strip() and not l.strip().startswith("//")]


FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(rel, lines):
    """(length in lines, file, name) of every function, signature to closing brace."""
    found = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            depth += lines[j].count("{") - lines[j].count("}")
            opened = opened or "{" in lines[j]
            if lines[j].rstrip().endswith(";") and not opened:
                break
            if opened and depth <= 0:
                found.append((j - i + 1, rel, m.group(6)))
                break
    return found


def main():
    total, files, fns = 0, 0, []
    for rel, text in production_files():
        lines = strip_test_modules(text.splitlines())
        code = code_lines(lines)
        total += len(code)
        files += 1
        fns.extend(functions(rel, code))
    fns.sort(reverse=True)
    print(f"production lines (src/ and cli/src/, no tests, comments or blank lines): {total} in {files} files")
    for length, rel, name in fns[: int(sys.argv[1]) if len(sys.argv) > 1 else 5]:
        print(f"  {length:4} lines  {rel}::{name}")


if __name__ == "__main__":
    main()
