#!/usr/bin/env bash
# fuzz.sh MODULE... — run every native Go fuzz target (func FuzzXxx) of every
# package of the given modules, one target per `go test` invocation (Go fuzzes
# one target at a time), each for FUZZTIME. Targets are discovered, never
# listed: a new FuzzXxx in any package is picked up without editing this file.
#
#   FUZZTIME=30s scripts/fuzz.sh . pkbtest cmd/pkb bench     # make fuzz
#   FUZZTIME=2m FUZZ_MATCH=search scripts/fuzz.sh .          # only packages or targets matching
#
# Every target runs even after one fails; the exit status is 1 if any target
# found a crasher (or failed to build), and the summary names each one. Go
# writes a crasher to <package dir>/testdata/fuzz/<Target>/<hash>, where the
# plain `go test` of that package replays it from then on: commit it with the
# fix (README, "Fuzzing").
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZ_MATCH=${FUZZ_MATCH:-}
export GOWORK=off

targets=() # "module package target"
for m in "$@"; do
	[ -f "$m/go.mod" ] || continue
	if ! out=$(cd "$m" && "$GO" test -run '^$' -list '^Fuzz' ./... 2>&1); then
		echo "$out"
		echo "fuzz: listing the fuzz targets of module $m failed"
		exit 1
	fi
	# -list prints a package's matching names, then "ok <package> <time>"; -run '^$'
	# keeps a TestMain that checks a full run (pkbtest's) from judging the listing.
	names=()
	while IFS= read -r line; do
		case "$line" in
		Fuzz*) names+=("$line") ;;
		ok*)
			pkg=$(awk '{print $2}' <<<"$line")
			for n in ${names[@]+"${names[@]}"}; do
				if [ -z "$FUZZ_MATCH" ] || [[ "$pkg $n" =~ $FUZZ_MATCH ]]; then
					targets+=("$m $pkg $n")
				fi
			done
			names=()
			;;
		*) names=() ;;
		esac
	done <<<"$out"
done

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found"
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"

# fuzz_once runs one target; its output is kept in $log.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fuzz_once() {
	(cd "$1" && "$GO" test -run '^$' -fuzz "^${3}\$" -fuzztime "$FUZZTIME" "$2") 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

failed=()
for t in "${targets[@]}"; do
	read -r m pkg name <<<"$t"
	echo "== $pkg $name"
	dir=$(cd "$m" && "$GO" list -f '{{.Dir}}' "$pkg")
	before=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null || true)
	if fuzz_once "$m" "$pkg" "$name"; then
		continue
	fi
	# Go 1.26's fuzz coordinator can fail a target with a bare "context
	# deadline exceeded" as -fuzztime ends, having found nothing
	# (golang/go#75804, fixed in Go 1.27). Such a failure wrote no input:
	# run the target once more; a failure that wrote an input never is.
	after=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null || true)
	if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log"; then
		echo "fuzz: $pkg $name: the fuzz coordinator's deadline race (golang/go#75804), no input written; once more"
		if fuzz_once "$m" "$pkg" "$name"; then
			continue
		fi
	fi
	echo "fuzz: $pkg $name FAILED; the input is under ${dir#"$PWD"/}/testdata/fuzz/$name/"
	failed+=("$pkg $name")
done

if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed:"
	printf '  %s\n' "${failed[@]}"
	echo "Replay one with: go test -run '<Target>/<file>' <package>; fix it and commit the input (README, \"Fuzzing\")."
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
