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

# numpy, pyyaml, jinja2 (see requirements.txt). Newer Ubuntu images mark the system Python
# "externally managed" (PEP 668); this image exists only to grade, so install into it anyway.
python3 -m pip install -r "$HERE/requirements.txt" \
    || python3 -m pip install --break-system-packages -r "$HERE/requirements.txt"

python3 -c "import numpy, yaml, jinja2"
