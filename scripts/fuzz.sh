#!/bin/bash
# Runs every fuzz target briefly. The seed corpora also run in plain
# `go test`; this explores beyond them.
#
# Budgets are counts of executions (about 3 s of fuzzing each on this
# project's machines), not durations: with a duration, Go's fuzz
# coordinator before 1.27 can fail a target with a bare "context deadline
# exceeded" when -fuzztime expires while a worker is mid-call (a race in
# internal/fuzz, golang/go#75804), which is no finding at all. FUZZTIME
# overrides every budget (a count like 100000x, or a duration).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(
	"FuzzQuote ./internal/shell 800x"
	"FuzzLoad ./dsl 100x"
	"FuzzWord ./resources/profilescript 600x"
	"FuzzVerifyParse ./resources/profilescript 10000x"
	"FuzzRule ./resources/sudoers 5000x"
	"FuzzRules ./resources/audit 10000x"
	"FuzzListing ./resources/audit 10000x"
	"FuzzBatchParse ./planner 30000x"
	"FuzzBatchFraming ./planner 300x"
	"FuzzVerify ./planner/journal 10000x"
	"FuzzProbeParsers ./resources 30000x"
	"FuzzMultiFraming ./resources 300x"
	"FuzzSettings ./resources/sysctl 10000x"
	"FuzzSettings ./resources/sshdconfig 10000x"
	"FuzzText ./internal/inert 30000x"
)
for target in "${targets[@]}"; do
	set -- $target
	t=${FUZZTIME:-$3}
	echo "fuzz: $1 ($2, $t)"
	go test -run '^$' -fuzz "^$1\$" -fuzztime "$t" "$2"
done
