#!/usr/bin/env bash
# Installs the Debian packages that are missing (build tools, libraries, lighttpd, Docker, test tools).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
install_missing
