#!/bin/bash
# Runs every fuzz target briefly (FUZZTIME, default 3s each). The seed
# corpora also run in plain `go test`; this explores beyond them.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-3s}
targets=(
	"FuzzQuote ./internal/shell"
	"FuzzLoad ./dsl"
	"FuzzWord ./resources/profilescript"
	"FuzzVerifyParse ./resources/profilescript"
	"FuzzRule ./resources/sudoers"
	"FuzzRules ./resources/audit"
	"FuzzListing ./resources/audit"
	"FuzzBatchParse ./planner"
	"FuzzVerify ./planner/journal"
	"FuzzProbeParsers ./resources"
	"FuzzSettings ./resources/sysctl"
	"FuzzSettings ./resources/sshdconfig"
	"FuzzText ./internal/inert"
)
for target in "${targets[@]}"; do
	set -- $target
	echo "fuzz: $1 ($2, $t)"
	go test -run '^$' -fuzz "^$1\$" -fuzztime "$t" "$2"
done
