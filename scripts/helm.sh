#!/usr/bin/env bash
# Prints SENTINEL_HELM=<path> for the chart's tests, building Helm from the Go
# module proxy when it is missing (about four minutes on two cores the first
# time). The binary is kept under bin/tools/, which git ignores, so later runs
# reuse it; the version is in the path, so bumping HELM_VERSION rebuilds.
#
#   tool=$(scripts/helm.sh) && export "$tool" && (cd helm/tests && go test ./...)
set -euo pipefail

version=${HELM_VERSION:-v3.22.0}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/bin/tools/helm-$version
helm=$dir/helm

if [ ! -x "$helm" ]; then
	echo "$0: building helm $version into $dir" >&2
	mkdir -p "$dir"
	# Built into a scratch directory and moved, so that an interrupted build
	# never leaves a binary that later runs would take for a good one.
	tmp=$(mktemp -d "$dir/build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# Helm's release builds stamp the Kubernetes version they were built against
	# (that of client-go in helm's go.mod) into the default capabilities and
	# into lint's deprecation checks; without it both say 1.20, and a chart that
	# needs a newer Kubernetes does not render. Stamped here the same way.
	# GOFLAGS is cleared: the caller's (say -mod=vendor) is not helm's.
	export GOFLAGS= CGO_ENABLED=0
	gomod=$(cd "$tmp" && go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	minor=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")
	[ -n "$minor" ] || { echo "$0: no k8s.io/client-go version in $gomod" >&2; exit 1; }
	ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
	for pkg in pkg/lint/rules pkg/chartutil; do
		ldflags="$ldflags -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$minor"
	done
	(cd "$tmp" && GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version") >&2
	mv "$tmp/helm" "$helm"
fi
echo "SENTINEL_HELM=$helm"
