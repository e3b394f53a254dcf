#!/usr/bin/env bash
# Prints SENTINEL_PROMTOOL=<path> for the tests that lint metrics and rules,
# installing Debian's prometheus package (which ships promtool) when missing.
#
#   tool=$(scripts/promtool.sh) && export "$tool" && go test ./...
set -euo pipefail

. "$(dirname "$0")/lib/apt.sh"

if ! command -v promtool >/dev/null; then
	apt_install prometheus
fi
echo "SENTINEL_PROMTOOL=$(command -v promtool)"
