#!/usr/bin/env bash
# api-diff.sh BASE — wire-level changes of every endpoint-family OpenAPI document
# (api/openapi/*.yaml) between git revision BASE and the working tree, with oasdiff:
# the breaking changes, then a markdown changelog, per document.
#
#   scripts/api-diff.sh origin/main            # make api-diff BASE=origin/main
#   FAIL_ON_BREAKING=1 scripts/api-diff.sh HEAD~1
#
# The base revision's document and the fhir-*.json documents it references are
# extracted with `git show BASE:path` into a temporary directory, so relative
# $refs resolve against the base's own FHIR schemas. A document absent at BASE
# (a new family) or absent now (a removed family) is compared with an empty spec.
#
# oasdiff is pinned to v1.37.0 (OASDIFF_VERSION). It is built once from the Go
# module proxy with `go install github.com/oasdiff/oasdiff@v1.37.0` into a
# temporary GOBIN — the same pinned module `go run ...@v1.37.0` would build, but
# run directly so that its exit status survives (`go run` turns every failure into
# status 1, which would make "breaking changes found" and "spec failed to load"
# indistinguishable). No go.mod change. Set OASDIFF to use another binary.
#
# oasdiff sorts changes into levels: ERR (breaking: e.g. a removed endpoint, a
# new required parameter), WARN (potentially breaking: e.g. a removed optional
# parameter) and INFO. Documents whose bytes (and referenced fhir-*.json) are
# identical at BASE are listed as unchanged without running oasdiff.
#
# Exit status: 0 done (breaking changes are reported, not fatal); 1 changes at
# FAIL_LEVEL (ERR, or WARN to include potentially breaking ones) and
# FAIL_ON_BREAKING=1; 2 usage, bad revision, or oasdiff failed.
set -euo pipefail

OASDIFF_VERSION=${OASDIFF_VERSION:-v1.37.0}
FAIL_ON_BREAKING=${FAIL_ON_BREAKING:-0}
FAIL_LEVEL=${FAIL_LEVEL:-ERR}
case $FAIL_LEVEL in ERR | WARN) ;; *) echo "api-diff: FAIL_LEVEL must be ERR or WARN, not '$FAIL_LEVEL'" >&2; exit 2 ;; esac

die() { echo "api-diff: $*" >&2; exit 2; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/api-diff.sh BASE   (a git revision, e.g. origin/main or HEAD~1; make api-diff BASE=...)"
BASE=$1
cd "$(git rev-parse --show-toplevel 2>/dev/null)" || die "not inside a git repository"
base_sha=$(git rev-parse --verify --quiet "${BASE}^{commit}") || die "BASE '$BASE' is not a commit in this repository"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/api-diff.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/base" "$tmp/bin"

if [ -z "${OASDIFF:-}" ]; then
	GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "github.com/oasdiff/oasdiff@${OASDIFF_VERSION}" \
		|| die "could not build oasdiff ${OASDIFF_VERSION} from the Go module proxy"
	OASDIFF="$tmp/bin/oasdiff"
fi

empty="$tmp/empty.yaml"
printf 'openapi: 3.0.3\ninfo:\n  title: absent\n  version: "0"\npaths: {}\n' >"$empty"

# The family documents: top-level api/openapi/*.yaml now and at BASE.
docs=$( { ls api/openapi/*.yaml 2>/dev/null | xargs -rn1 basename
	git ls-tree --name-only "$base_sha" api/openapi/ | grep -E '^api/openapi/[^/]+\.yaml$' | xargs -rn1 basename || true
	} | sort -u)
[ -n "$docs" ] || die "no api/openapi/*.yaml at BASE or in the working tree"

# oasdiff RUN... : exit 0 no breaking change, 1 breaking change (with --fail-on ERR); anything else fails.
oas() {
	local rc=0
	"$OASDIFF" "$@" || rc=$?
	case $rc in 0 | 1) return $rc ;; *) die "oasdiff $1 failed (exit $rc): $*" ;; esac
}

echo "# API diff: ${BASE} (${base_sha:0:12}) → working tree"
echo
echo "oasdiff ${OASDIFF_VERSION}: error = breaking, warning = potentially breaking."
breaking_docs=()
warning_docs=()
for doc in $docs; do
	rev="api/openapi/$doc"
	base="$tmp/base/$doc"
	note=""
	if git cat-file -e "$base_sha:api/openapi/$doc" 2>/dev/null; then
		git show "$base_sha:api/openapi/$doc" >"$base"
		# The FHIR schema documents the base document references, from BASE too.
		for ref in $(grep -oE "fhir-[A-Za-z0-9._-]+\.json" "$base" | sort -u); do
			git cat-file -e "$base_sha:api/openapi/$ref" 2>/dev/null \
				|| die "$doc at $BASE references $ref, which is not in api/openapi/ at $BASE"
			git show "$base_sha:api/openapi/$ref" >"$tmp/base/$ref"
		done
	else
		base=$empty
		note=" (new family: absent at ${BASE})"
	fi
	if [ ! -f "$rev" ]; then
		rev=$empty
		note=" (removed family: absent in the working tree)"
	fi

	echo
	echo "## ${doc}${note}"
	echo
	same=0
	if [ -z "$note" ] && cmp -s "$base" "$rev"; then
		same=1
		for ref in $(grep -oE "fhir-[A-Za-z0-9._-]+\.json" "$rev" | sort -u); do
			cmp -s "$tmp/base/$ref" "api/openapi/$ref" 2>/dev/null || same=0
		done
	fi
	if [ "$same" = 1 ]; then
		echo "unchanged since ${BASE}"
		continue
	fi
	echo "### Breaking changes"
	echo
	echo '```'
	oas breaking "$base" "$rev" --fail-on WARN --color never >"$tmp/breaking.txt" || true
	cat "$tmp/breaking.txt"
	echo '```'
	# oasdiff's summary line: "N changes: E error, W warning, I info".
	errors=$(sed -nE 's/^[0-9]+ changes: ([0-9]+) error.*/\1/p' "$tmp/breaking.txt" | head -n1)
	warnings=$(sed -nE 's/^[0-9]+ changes: [0-9]+ error, ([0-9]+) warning.*/\1/p' "$tmp/breaking.txt" | head -n1)
	if [ "${errors:-0}" -gt 0 ]; then breaking_docs+=("$doc"); fi
	if [ "${warnings:-0}" -gt 0 ]; then warning_docs+=("$doc"); fi
	echo
	# oasdiff's markdown starts at "#"; nest it under this document's heading.
	oas changelog "$base" "$rev" --format markdown >"$tmp/changelog.md" || true
	sed -e 's/^#/###/' "$tmp/changelog.md" | cat -s
done

echo
echo "api-diff: against ${BASE}: breaking (error) in: ${breaking_docs[*]:-none}; potentially breaking (warning) in: ${warning_docs[*]:-none}"
failing=${#breaking_docs[@]}
if [ "$FAIL_LEVEL" = WARN ]; then failing=$((failing + ${#warning_docs[@]})); fi
if [ "$failing" -gt 0 ] && [ "$FAIL_ON_BREAKING" = 1 ]; then
	echo "api-diff: FAIL (FAIL_ON_BREAKING=1, FAIL_LEVEL=${FAIL_LEVEL})"
	exit 1
fi
if [ "$failing" -gt 0 ]; then
	echo "api-diff: report only (set FAIL_ON_BREAKING=1 to fail on them)"
fi
exit 0
