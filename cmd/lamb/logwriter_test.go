package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.WriteString(string(p))
	return len(p), nil
}

// Lines written by many goroutines all arrive, whole and in each
// writer's order, without waiting for Close; Close writes the rest.
func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(&out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 8*2000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval: the flusher writes on its own
	}
	fmt.Fprintln(w, "last")
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*2000+1 || lines[len(lines)-1] != "last" {
		t.Fatalf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	next := map[string]int{}
	for _, l := range lines[:len(lines)-1] {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d line %d", &g, &i); err != nil {
			t.Fatalf("torn line %q", l)
		}
		key := fmt.Sprint(g)
		if i != next[key] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[key]-1)
		}
		next[key]++
	}
}
