#!/usr/bin/env bash
# Prints SENTINEL_ALERTMANAGER=<path> and SENTINEL_AMTOOL=<path> for the tests
# that deliver alerts to a real Alertmanager, installing Debian's
# prometheus-alertmanager package (which ships both) when missing.
#
#   am=$(scripts/alertmanager.sh) && export $am && go test ./...
set -euo pipefail

. "$(dirname "$0")/lib/apt.sh"

find_alertmanager() { command -v prometheus-alertmanager || command -v alertmanager; }

if ! find_alertmanager >/dev/null || ! command -v amtool >/dev/null; then
	apt_install prometheus-alertmanager
fi
echo "SENTINEL_ALERTMANAGER=$(find_alertmanager)"
echo "SENTINEL_AMTOOL=$(command -v amtool)"
