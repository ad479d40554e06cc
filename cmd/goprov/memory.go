package main

import (
	"os"
	"runtime/debug"
)

// bigRunGCPercent is the GC target for runs of many hosts at once. The
// controller spends under 2 % of a core at -parallel 200 and its heap is
// mostly short-lived SSH buffers: collecting at +50 % instead of Go's
// default +100 % trades a little of that idle CPU for about a quarter less
// peak memory (bench/README.md, N = 200).
const bigRunGCPercent = 50

// tuneMemory applies bigRunGCPercent from -parallel 50 on, unless the user
// set GOGC.
func tuneMemory(parallel int) {
	if parallel >= 50 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(bigRunGCPercent)
	}
}
