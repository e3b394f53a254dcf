#!/usr/bin/env bash
# Prints SENTINEL_CHROMIUM=<path> for the test that loads the status page in a
# headless browser, installing Debian's chromium package when missing.
#
#   browser=$(scripts/chromium.sh) && export "$browser" && go test ./internal/web/
set -euo pipefail

. "$(dirname "$0")/lib/apt.sh"

if ! command -v chromium >/dev/null; then
	apt_install chromium
fi
echo "SENTINEL_CHROMIUM=$(command -v chromium)"
