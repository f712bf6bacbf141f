#!/usr/bin/env bash
# Runs every Go fuzz target in the tree for FUZZTIME each (default 5m), one after the
# other, and prints one line per target. A crash stops the run with the failing input
# saved under the package's testdata/fuzz/ (go test's own behaviour).
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-5m}"
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		start=$(date +%s)
		out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" -parallel "${FUZZ_PARALLEL:-2}" "$pkg" 2>&1) || {
			echo "$out" | tail -40
			echo "FAIL $pkg $name"
			exit 1
		}
		execs=$(echo "$out" | sed -n 's/.*execs: \([0-9]*\) .*/\1/p' | tail -1)
		echo "ok   $pkg $name $t ($(( $(date +%s) - start )) s, ${execs:-?} execs in the last report)"
	done
done
