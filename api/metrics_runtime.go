package api

import (
	"fmt"
	"math"
	"runtime/metrics"
	"strings"
)

// runtimeBounds are the upper bounds (seconds) lamb reports the Go
// runtime's latency histograms in: fine below a millisecond, where a
// healthy gateway lives, coarse above.
var runtimeBounds = []float64{10e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

// writeRuntimeMetrics appends the runtime figures behind a gateway's
// latency tail: how long runnable goroutines waited for a CPU, the pauses
// of the garbage collector, goroutines and live heap.
func writeRuntimeMetrics(b *strings.Builder, metric func(name, typ, help string)) {
	s := []metrics.Sample{
		{Name: "/sched/latencies:seconds"},
		{Name: "/sched/pauses/total/gc:seconds"},
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	metric("go_sched_latencies_seconds", "histogram", "Time goroutines spent runnable before running: CPU contention inside lamb (sum estimated from the buckets).")
	writeHistogram(b, "go_sched_latencies_seconds", sampleHistogram(s[0].Value))
	metric("go_gc_pauses_seconds", "histogram", "Stop-the-world pauses of the garbage collector (sum estimated from the buckets).")
	writeHistogram(b, "go_gc_pauses_seconds", sampleHistogram(s[1].Value))
	metric("go_goroutines", "gauge", "Goroutines that exist now.")
	fmt.Fprintf(b, "go_goroutines %d\n", sampleUint(s[2].Value))
	metric("go_heap_objects_bytes", "gauge", "Bytes of the heap held by objects, live or not yet swept.")
	fmt.Fprintf(b, "go_heap_objects_bytes %d\n", sampleUint(s[3].Value))
	metric("go_gc_cycles_total", "counter", "Completed garbage collection cycles.")
	fmt.Fprintf(b, "go_gc_cycles_total %d\n", sampleUint(s[4].Value))
}

func sampleHistogram(v metrics.Value) *metrics.Float64Histogram {
	if v.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return v.Float64Histogram()
}

func sampleUint(v metrics.Value) uint64 {
	if v.Kind() != metrics.KindUint64 {
		return 0
	}
	return v.Uint64()
}

// writeHistogram folds a runtime histogram into runtimeBounds. A runtime
// bucket counts under the first bound at or above its upper edge, so a
// bucket is never reported faster than it was.
// A missing histogram (a runtime that doesn't have it) writes nothing.
func writeHistogram(b *strings.Builder, name string, h *metrics.Float64Histogram) {
	if h == nil {
		return
	}
	cum := make([]uint64, len(runtimeBounds))
	var total uint64
	var sum float64
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		total += n
		sum += float64(n) * midpoint(lo, hi)
		for j, bound := range runtimeBounds {
			if hi <= bound {
				cum[j] += n
			}
		}
	}
	for j, bound := range runtimeBounds {
		fmt.Fprintf(b, "%s_bucket{le=\"%g\"} %d\n", name, bound, cum[j])
	}
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, total, name, sum, name, total)
}

// midpoint of a bucket whose edges may be infinite.
func midpoint(lo, hi float64) float64 {
	switch {
	case math.IsInf(lo, -1):
		return hi
	case math.IsInf(hi, 1):
		return lo
	}
	return (lo + hi) / 2
}
