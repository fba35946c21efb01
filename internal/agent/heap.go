package agent

import (
	"os"
	"runtime"
	"runtime/debug"
)

// LimitHeap sets the Go runtime's soft memory limit to what the heap holds
// now (the reject logs read, the fingerprint database) plus the held-state
// budget plus room for buffers, unless GOMEMLIMIT is set: under a flood the
// garbage collector then works harder instead of letting the heap double.
func LimitHeap(held int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	debug.SetMemoryLimit(int64(m.HeapAlloc) + held + heapSlack)
}

// heapSlack is the room above the held state for what grows with the
// traffic besides it: output and store buffers, enrichment caches.
const heapSlack = 64 << 20
