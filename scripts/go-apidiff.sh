#!/usr/bin/env bash
# go-apidiff.sh BASE — Go API compatibility of the client packages between git
# revision BASE and the working tree, with golang.org/x/exp/cmd/apidiff.
#
#   scripts/go-apidiff.sh origin/main          # make go-apidiff BASE=origin/main
#   FAIL_ON_BREAKING=1 scripts/go-apidiff.sh HEAD~1
#
# Packages: gen/... wrappers authn search message nationalid (those that exist at either
# side). BASE is checked out in a temporary `git worktree`; apidiff -w writes
# each package's export data there and in the working tree, then apidiff
# compares them, listing incompatible and compatible changes per package.
# Packages whose export data did not change print nothing but their heading's
# "no changes". A package absent at BASE is reported as new; one absent now as
# removed (incompatible).
#
# Exit status: 0 done (incompatible changes are reported, not fatal); 1
# incompatible changes and FAIL_ON_BREAKING=1; 2 usage, bad revision, or a
# package failed to build.
set -euo pipefail

APIDIFF_VERSION=${APIDIFF_VERSION:-v0.0.0-20261113113407-e3970619a1a4}
FAIL_ON_BREAKING=${FAIL_ON_BREAKING:-0}
PKG_ROOTS=${PKG_ROOTS:-"gen wrappers authn search message nationalid"}

die() { echo "go-apidiff: $*" >&2; exit 2; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/go-apidiff.sh BASE   (a git revision, e.g. origin/main or HEAD~1; make go-apidiff BASE=...)"
BASE=$1
top=$(git rev-parse --show-toplevel 2>/dev/null) || die "not inside a git repository"
cd "$top"
base_sha=$(git rev-parse --verify --quiet "${BASE}^{commit}") || die "BASE '$BASE' is not a commit in this repository"
module=$(GOWORK=off go list -m -f "{{.Path}}" 2>/dev/null) || die "cannot read the module path"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/go-apidiff.XXXXXX")
wt="$tmp/base"
cleanup() {
	git worktree remove --force "$wt" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	git worktree prune >/dev/null 2>&1 || true
}
trap cleanup EXIT
git worktree add --detach --quiet "$wt" "$base_sha" || die "git worktree add failed for $BASE"
mkdir -p "$tmp/bin" "$tmp/old" "$tmp/new"

GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "golang.org/x/exp/cmd/apidiff@${APIDIFF_VERSION}" \
	|| die "could not build apidiff ${APIDIFF_VERSION} from the Go module proxy"
APIDIFF="$tmp/bin/apidiff"

# pkgs DIR: package directories (relative) below the roots that hold non-test Go files.
pkgs() {
	local dir=$1 r
	for r in $PKG_ROOTS; do
		[ -d "$dir/$r" ] || continue
		find "$dir/$r" -type f -name '*.go' ! -name '*_test.go' ! -path '*/testdata/*' -printf '%h\n'
	done | sed "s|^$dir/||" | sort -u
}

# export DIR PKG OUT: write the export data of PKG built in the module at DIR.
# GOWORK=off: the base worktree has no go.work; build both sides the same way.
export_data() {
	(cd "$1" && GOWORK=off GOFLAGS=-mod=mod "$APIDIFF" -w "$3" "$module/$2") \
		|| die "apidiff -w failed for $2 in $1 (does the package build?)"
}

old_pkgs=$(pkgs "$wt")
new_pkgs=$(pkgs "$top")
all=$(printf '%s\n%s\n' "$old_pkgs" "$new_pkgs" | sed '/^$/d' | sort -u)

echo "# Go API diff: ${BASE} (${base_sha:0:12}) → working tree"
echo
echo "apidiff ${APIDIFF_VERSION}; packages under: ${PKG_ROOTS}"
broken=()
for p in $all; do
	f=$(echo "$p" | tr / _)
	in_old=$(grep -qxF "$p" <<<"$old_pkgs" && echo 1 || echo 0)
	in_new=$(grep -qxF "$p" <<<"$new_pkgs" && echo 1 || echo 0)
	echo
	echo "## $module/$p"
	if [ "$in_old" = 0 ]; then
		echo "new package (absent at ${BASE})"
		continue
	fi
	if [ "$in_new" = 0 ]; then
		echo "Incompatible changes:"
		echo "- package removed"
		broken+=("$p")
		continue
	fi
	export_data "$wt" "$p" "$tmp/old/$f"
	export_data "$top" "$p" "$tmp/new/$f"
	out=$("$APIDIFF" "$tmp/old/$f" "$tmp/new/$f") || die "apidiff failed for $p"
	if [ -z "$out" ]; then
		echo "no changes"
	else
		echo "$out"
		grep -q '^Incompatible changes:' <<<"$out" && broken+=("$p")
	fi
done

echo
if [ ${#broken[@]} -eq 0 ]; then
	echo "go-apidiff: no incompatible Go API changes against ${BASE}"
	exit 0
fi
echo "go-apidiff: incompatible Go API changes against ${BASE} in: ${broken[*]}"
if [ "$FAIL_ON_BREAKING" = 1 ]; then
	exit 1
fi
echo "go-apidiff: report only (set FAIL_ON_BREAKING=1 to fail on them)"
