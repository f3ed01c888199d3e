package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// instance is a lamb process the benchmark started.
type instance struct {
	url    string
	ssh    string // its SSH address
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	once   sync.Once
}

// startLamb starts bin in dir as the README says, default logging to
// dir/lamb.log, with the given variables, and waits until it is healthy.
func startLamb(bin, dir string, env []string) (*instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "lamb.log"))
	if err != nil {
		return nil, err
	}
	httpAddr, sshAddr := freeAddr(), freeAddr()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...),
		"LAMB_HTTP_ADDR="+httpAddr, "LAMB_SSH_ADDR="+sshAddr, "LAMB_METRICS=1",
		// One load generator stands for many clients, as a reverse proxy does.
		"LAMB_HTTP_CONNECTIONS_PER_ADDRESS=4096")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	in := &instance{url: "http://" + httpAddr, ssh: sshAddr, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); logFile.Close(); close(in.exited) }()
	if err := waitHealthy(in.url, 60*time.Second); err != nil {
		in.stop()
		return nil, fmt.Errorf("%w (its log: %s)", err, filepath.Join(dir, "lamb.log"))
	}
	return in, nil
}

// stop ends the process with SIGTERM, which flushes its usage queue, and
// waits for it.
func (in *instance) stop() {
	in.once.Do(func() {
		in.cmd.Process.Signal(syscall.SIGTERM)
		<-in.exited
	})
}

// statements reads lamb_database_statements_total from /metrics.
func (in *instance) statements() (int64, error) {
	m, err := in.metrics()
	if err != nil {
		return 0, err
	}
	v, ok := m["lamb_database_statements_total"]
	if !ok {
		return 0, fmt.Errorf("%s/metrics has no lamb_database_statements_total", in.url)
	}
	return int64(v), nil
}

// metrics reads every sample of /metrics, by name and labels as written.
func (in *instance) metrics() (map[string]float64, error) {
	resp, err := http.Get(in.url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// runtimeTail is what lamb's Go runtime says about a phase: the p99 of
// the time its runnable goroutines waited for a CPU, and its GC pauses.
type runtimeTail struct {
	schedP99 string // "≤ 250µs": the histogram bound holding the 99th percentile
	gcPauses int
	gcWorst  string
}

// runtimeDuring diffs two /metrics reads of the processes behind a target.
func runtimeDuring(before, after []map[string]float64) runtimeTail {
	var t runtimeTail
	delta := func(name, le string) float64 {
		var d float64
		for i := range after {
			k := name + `_bucket{le="` + le + `"}`
			d += after[i][k] - before[i][k]
		}
		return d
	}
	bounds := []string{"1e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"}
	quantile := func(name string, q float64) string {
		total := delta(name, "+Inf")
		for _, le := range bounds {
			if total > 0 && delta(name, le) >= q*total {
				return "≤ " + humanSeconds(le)
			}
		}
		return "n/a"
	}
	t.schedP99 = quantile("go_sched_latencies_seconds", 0.99)
	t.gcPauses = int(delta("go_gc_pauses_seconds", "+Inf"))
	t.gcWorst = quantile("go_gc_pauses_seconds", 1)
	return t
}

func humanSeconds(le string) string {
	if le == "+Inf" {
		return "∞"
	}
	v, _ := strconv.ParseFloat(le, 64)
	return time.Duration(v * float64(time.Second)).String()
}

// scratchDatabase creates an empty database beside the one rawURL names,
// for one run, and returns its URL and a function that drops it.
func scratchDatabase(ctx context.Context, rawURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", rawURL)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	name := "lamb_bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create a scratch database (the role of -database-url needs CREATEDB): %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}

// targets are the throughput targets of DESIGN §9 and §10.
var targets = map[string]string{"lamb": " (target ≥ 0.80)", "lamb pg": " (target ≥ 0.50)"}

// measure runs the phases over targets and prints them in one table.
type measure struct {
	client            *http.Client
	duration          time.Duration
	rate, concurrency int
	phases            string
	targets           []target
	serving           map[string][]*instance // lamb's processes behind a target
	rps               map[string]float64
}

func (m *measure) wants(phase string) bool {
	return m.phases == "" || strings.Contains(m.phases, phase)
}

func (m *measure) add(t target, by []*instance) {
	for _, in := range by {
		t.procs = append(t.procs, in.cmd.Process.Pid)
	}
	m.targets = append(m.targets, t)
	if m.serving == nil {
		m.serving = map[string][]*instance{}
	}
	m.serving[t.name] = by
}

// run measures ts (a tail of m.targets): throughput, then latency.
func (m *measure) run(ts []target) {
	for _, t := range ts { // warm up connections and caches
		closedLoop(m.client, t, m.concurrency, 2*time.Second, false)
	}
	if m.wants("throughput") {
		fmt.Printf("\nThroughput, non-streaming, %d concurrent clients\n", m.concurrency)
		for _, t := range ts {
			before := m.statements(t)
			r := closedLoop(m.client, t, m.concurrency, m.duration, false)
			m.rps[t.name] = float64(r.ok) / m.duration.Seconds()
			extra := ""
			if proxy := m.rps["reverse proxy"]; strings.HasPrefix(t.name, "lamb") && proxy > 0 {
				extra = fmt.Sprintf("  = %.2f× the reverse proxy", m.rps[t.name]/proxy)
				extra += targets[t.name]
				if base, ok := strings.CutSuffix(t.name, " spread"); ok && m.rps[base] > 0 {
					extra += fmt.Sprintf(", %.2f× %s with one key and assistant (target ≥ 0.80)", m.rps[t.name]/m.rps[base], base)
				}
				if after := m.statements(t); before >= 0 && after >= 0 && r.ok > 0 {
					extra += fmt.Sprintf("; %.2f database statements a request", float64(after-before)/float64(r.ok))
				}
			}
			fmt.Printf("  %-22s %8.0f req/s  (%d errors)%s\n", t.name, m.rps[t.name], r.errors, extra)
		}
	}
	if m.wants("latency") {
		// The baseline runs in the same turns as what it is compared with.
		group := ts
		if ts[0].name != "direct" {
			group = append(m.baselines(), ts...)
		}
		fmt.Printf("\nLatency at %d req/s, non-streaming, the targets taking turns of %s\n", m.rate, latencySlice)
		lambs := m.instances(ts)
		before := metricsOf(lambs)
		all := interleaved(m.client, group, m.rate, m.duration)
		after := metricsOf(lambs)
		direct := all[0].summary()
		for i, t := range group {
			l := all[i].summary()
			extra := ""
			if i > 0 {
				extra = fmt.Sprintf("  overhead p50 %+.2f ms, p99 %+.2f ms", ms(l.p50-direct.p50), ms(l.p99-direct.p99))
			}
			if c := all[i].cpuPerRequest(); c != "" {
				extra += "; " + c
			}
			fmt.Printf("  %-22s p50 %6.2f ms  p99 %6.2f ms  (%d sent, %d errors)%s\n", t.name, ms(l.p50), ms(l.p99), l.sent, l.errors, extra)
		}
		if before != nil && after != nil && len(lambs) > 0 {
			rt := runtimeDuring(before, after)
			fmt.Printf("  inside lamb: runnable goroutines waited p99 %s; %d GC pauses, the longest %s\n", rt.schedP99, rt.gcPauses, rt.gcWorst)
		}
	}
}

// baselines are the targets that aren't lamb: direct and the bare hops.
func (m *measure) baselines() []target {
	var ts []target
	for _, t := range m.targets {
		if len(m.serving[t.name]) == 0 {
			ts = append(ts, t)
		}
	}
	return ts
}

// instances are the lamb processes behind ts, each once.
func (m *measure) instances(ts []target) []*instance {
	var all []*instance
	for _, t := range ts {
		for _, in := range m.serving[t.name] {
			if !slices.Contains(all, in) {
				all = append(all, in)
			}
		}
	}
	return all
}

// metricsOf reads /metrics of each instance; nil if one can't be read.
func metricsOf(ins []*instance) []map[string]float64 {
	var all []map[string]float64
	for _, in := range ins {
		v, err := in.metrics()
		if err != nil {
			return nil
		}
		all = append(all, v)
	}
	return all
}

// statements sums the statements of the processes behind t; -1 when
// unknown.
func (m *measure) statements(t target) int64 {
	var sum int64
	for _, in := range m.serving[t.name] {
		n, err := in.statements()
		if err != nil {
			return -1
		}
		sum += n
	}
	return sum
}
