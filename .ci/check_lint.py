"""Fail when `snakemake --lint json` reports anything but the tolerated 'no conda/container' finding.

Usage: python .ci/check_lint.py LINT_OUTPUT_FILE   (or `-` to read the output from stdin, as `make lint` does)
"""

import json
import sys

TOLERATED = ("conda environment", "container", "software environment")

if len(sys.argv) != 2:
    sys.exit(__doc__)
if sys.argv[1] == "-":
    text = sys.stdin.read()
else:
    with open(sys.argv[1], encoding="utf-8") as fh:
        text = fh.read()
start = text.find("{")
if start < 0 and "good condition" in text:
    print("snakemake --lint: clean")
    sys.exit(0)
if start < 0:
    print("lint: no JSON output from snakemake --lint:\n" + text)
    sys.exit(1)
report, _ = json.JSONDecoder().raw_decode(text[start:])
problems = []
for section in ("snakefiles", "rules"):
    for item in report.get(section, []):
        for lint in item.get("lints", []):
            title = lint.get("title", "")
            if not any(t in title.lower() for t in TOLERATED):
                problems.append(f"{item.get('rule') or item.get('snakefile')}: {title}")
if problems:
    print("snakemake --lint findings:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("snakemake --lint: clean (apart from the tolerated conda/container note)")
