"""Wall time of the installed ``deepclust demo`` (the default job: IDEC on digits, with the UMAP report).

    python bench/demo_time.py              # one run, default settings
    python bench/demo_time.py --repeat 3   # several, to see the spread

Prints the demo's own output, the wall time of the whole command (start-up, training, report)
and the machine's load average before and after, since a busy machine slows every step.
The target is under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    command = Path(sys.executable).with_name("deepclust")
    for _ in range(args.repeat):
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            done = subprocess.run([str(command), "demo", "--quiet", "--out", f"{folder}/demo"], capture_output=True, text=True)
            seconds = time.perf_counter() - start
            report = Path(folder, "demo", "report.html")
            print(done.stdout.strip())
            if done.returncode != 0 or not report.is_file():
                sys.exit(f"demo failed (exit {done.returncode}): {done.stderr.strip()}")
        print(f"wall {seconds:.1f} s on {os.cpu_count()} cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
