#!/usr/bin/env bash
# govulncheck over the module, read by scripts/vulnreport: fails when the code
# imports or calls a vulnerable package of a module it requires, and lists the
# standard library's findings with the Go release that fixes them, failing
# when the Dockerfile's Go (what release images are built with) does not.
#
#   scripts/govulncheck.sh
#
# govulncheck is installed from the Go module proxy into bin/tools. Its
# database comes from GOVULNDB when set (e.g. https://vuln.go.dev); otherwise
# it is built once into bin/tools/vulndb-<version> from golang.org/x/vulndb,
# which the module proxy serves when vuln.go.dev is out of reach. Raise
# VULNDB_VERSION to scan against newer reports.
set -euo pipefail

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GO=${GO:-go}

cd "$(dirname "$0")/.."
tools=$PWD/bin/tools
mkdir -p "$tools"
log() { echo "govulncheck.sh: $*" >&2; }

bin=$tools/govulncheck
if ! [ -x "$bin" ] || ! "$bin" -version 2>/dev/null | grep -q "govulncheck@$GOVULNCHECK_VERSION"; then
	log "installing govulncheck $GOVULNCHECK_VERSION into $tools"
	GOBIN=$tools $GO install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

db=${GOVULNDB:-}
if [ -z "$db" ]; then
	dir=$tools/vulndb-$VULNDB_VERSION
	if ! [ -s "$dir/index/db.json" ]; then
		log "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (once)"
		src=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -d "$src/data/osv" ] || { log "no data/osv in golang.org/x/vulndb@$VULNDB_VERSION ($src)"; exit 2; }
		rm -rf "$dir.tmp"
		$GO run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$dir.tmp"
		mv "$dir.tmp" "$dir"
	fi
	db=file://$dir
fi

release_go=$(sed -n 's/^FROM .*golang:\([0-9][0-9.]*\).*/\1/p' Dockerfile | head -1)
scan=$(mktemp)
trap 'rm -f "$scan"' EXIT
log "scanning with $db"
"$bin" -db "$db" -format json ./... >"$scan"
$GO run ./scripts/vulnreport -release-go "$release_go" <"$scan"
