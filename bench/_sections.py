"""Replace one ``## heading`` section of docs/benchmarks.md, leaving every other section as it is.

Each benchmark script owns its sections; the file is rewritten atomically.
"""

from __future__ import annotations

from pathlib import Path

from deepclust.io import write_atomic

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"


def update_section(heading: str, body: str, path: Path = REPORT) -> None:
    """Put ``## heading`` + ``body`` in place of the section with that heading, or append it."""
    lines = path.read_text().splitlines() if path.exists() else ["# Benchmarks"]
    title = f"## {heading}"
    section = [title, "", *body.strip("\n").splitlines()]
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section + ([""] if end < len(lines) else [])
    else:
        lines += ["", *section]
    write_atomic(path, "\n".join(lines).rstrip("\n") + "\n")

