package api

import (
	"math"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
)

// The runtime's histograms are folded into fixed bounds: a runtime bucket
// counts under the first bound at or above its upper edge, never under a
// smaller one (which would report the tail faster than it was).
func TestRuntimeHistogramFoldsUpward(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0, 8e-6, 12e-6, 0.003, 0.2, 2, math.Inf(1)},
		Counts:  []uint64{0, 5, 3, 2, 1, 4, 1},
	}
	var b strings.Builder
	writeHistogram(&b, "x", nil) // a runtime without it: nothing
	if b.Len() != 0 {
		t.Fatalf("wrote %q for a missing histogram", b.String())
	}
	got := foldForTest(h)
	want := map[string]string{
		"1e-05":  "5", // [0, 8µs) only: [8µs, 12µs) ends past 10µs
		"5e-05":  "8",
		"0.0025": "8",
		"0.005":  "10", // [12µs, 3ms) ends at 3 ms
		"0.25":   "11",
		"1":      "11", // [0.2, 2) ends past 1 s
		"+Inf":   "16",
	}
	for le, n := range want {
		if got["x_bucket{le=\""+le+"\"}"] != n {
			t.Errorf("le=%s: got %s, want %s", le, got["x_bucket{le=\""+le+"\"}"], n)
		}
	}
	if got["x_count"] != "16" {
		t.Errorf("count %s, want 16", got["x_count"])
	}
}

func foldForTest(h *metrics.Float64Histogram) map[string]string {
	var b strings.Builder
	writeHistogram(&b, "x", h)
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// The runtime section of /metrics is well formed: every histogram's
// buckets are cumulative and end at its count.
func TestRuntimeMetricsAreCumulative(t *testing.T) {
	runtime.GC() // at least one pause to count
	var b strings.Builder
	writeRuntimeMetrics(&b, func(name, typ, help string) {})
	text := b.String()
	for _, name := range []string{"go_sched_latencies_seconds", "go_gc_pauses_seconds"} {
		re := regexp.MustCompile(`(?m)^` + name + `_bucket\{le="([^"]+)"\} (\d+)$`)
		matches := re.FindAllStringSubmatch(text, -1)
		if len(matches) != len(runtimeBounds)+1 {
			t.Fatalf("%s: %d buckets, want %d:\n%s", name, len(matches), len(runtimeBounds)+1, text)
		}
		prev := int64(-1)
		for _, m := range matches {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			if n < prev {
				t.Errorf("%s: bucket le=%s (%d) below the one before (%d)", name, m[1], n, prev)
			}
			prev = n
		}
		count := regexp.MustCompile(`(?m)^` + name + `_count (\d+)$`).FindStringSubmatch(text)
		if count == nil || count[1] != strconv.FormatInt(prev, 10) {
			t.Errorf("%s: count %v, want the +Inf bucket %d", name, count, prev)
		}
	}
	if !regexp.MustCompile(`(?m)^go_gc_pauses_seconds_count [1-9]`).MatchString(text) {
		t.Errorf("no GC pause counted after runtime.GC:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^go_goroutines [1-9]`).MatchString(text) {
		t.Errorf("no goroutines:\n%s", text)
	}
}
