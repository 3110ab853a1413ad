#!/bin/sh
# Gradescope runs this once, as root, while it builds the autograder's image:
# it makes sure python3 and pip exist, then installs what the grader needs.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-pip
fi

# The grader needs Python 3.10 or newer; say so plainly rather than fail later in pip or
# at import. (The version is printed by code that even Python 2 runs.)
found=$(python3 -c 'import sys; sys.stdout.write("%d.%d.%d" % sys.version_info[:3])')
major=${found%%.*}
minor=${found#*.}
minor=${minor%%.*}
if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 10 ]; }; then
    echo "setup.sh: this image's python3 is Python $found, but the grader needs Python 3.10" \
         "or newer: choose the Ubuntu 22.04 (or newer) base image in the assignment's" \
         "autograder settings, or install python3.10+ as python3 here." >&2
    exit 1
fi

# numpy, pyyaml, jinja2, pinned (see requirements.txt). Newer Ubuntu images mark the system
# Python "externally managed" (PEP 668); this image exists only to grade, so install into it
# anyway.
python3 -m pip install -r "$HERE/requirements.txt" \
    || python3 -m pip install --break-system-packages -r "$HERE/requirements.txt"

python3 -c "import numpy, yaml, jinja2"

# The full rubric and the hidden vectors live here. Where the container gives the grader no
# mount rights (Docker's default) student code is fenced by file permissions alone: root only.
chmod -R go-rwx "$HERE"
