// Command bench measures the gateway's overhead (DESIGN §9) in one run:
// the same requests go to a fake OpenAI-compatible provider directly,
// through a bare httputil.ReverseProxy hop (the least any gateway can
// cost), and through lamb with auth, routing, limits and usage logging on.
//
//	go run ./bench                  # defaults: 5 s per phase
//	go run ./bench -duration 10s -rate 500 -concurrency 32
//	go run ./bench -process         # lamb as its own process, as users see it
//	go run ./bench -ssh 500         # the SSH console instead
//
// It prints throughput (closed loop, fixed concurrency), latency at a fixed
// request rate (open loop), streaming time to first byte, and checks that
// every request lamb answered left a usage row.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lamb/api"
	"lamb/config"
	"lamb/internal/fakeopenai"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "length of each measured phase")
	rate := flag.Int("rate", 500, "requests per second of the latency phase")
	concurrency := flag.Int("concurrency", 32, "concurrent clients of the throughput phase")
	sessions := flag.Int("ssh", 0, "measure the SSH console with this many concurrent sessions instead of the gateway")
	process := flag.Bool("process", false, "run lamb as its own process (built and started as the README says) and measure it from outside")
	orgs := flag.Int("orgs", 40, "-process: orgs of the spread traffic")
	keys := flag.Int("keys", 5, "-process: API keys per org of the spread traffic")
	assistants := flag.Int("assistants", 50, "-process: assistants per org of the spread traffic")
	databaseURL := flag.String("database-url", "", "-process: also measure lamb on PostgreSQL, one instance and two, in a scratch database created beside this one (postgres://…, a role with CREATEDB)")
	phases := flag.String("phases", "", "-process: only these phases (throughput,latency,stream); all when empty")
	compareEnv := flag.String("compare-env", "", "-process: also measure a second lamb on a copy of the SQLite database, started with these settings added (\"GOGC=200 LAMB_LOG_FORMAT=json\"), in the same turns as the first")
	clients := flag.String("ssh-clients", "", "internal: run as the SSH client process")
	ups := flag.Bool("upstreams", false, "internal: run as the fake providers' process")
	proxyTo := flag.String("proxy-to", "", "internal: run as a bare reverse proxy's process, to this URL")
	setupOrgs := flag.Int("setup", 0, "measure setting up this many orgs (an admin, 10 assistants, 10 API keys each) through SSH commands")
	setupWorkers := flag.Int("setup-workers", 4, "-setup: SSH commands running at once")
	setupReconnect := flag.Bool("setup-reconnect", false, "-setup: a new SSH connection for every command (plain ssh without ControlMaster)")
	setupOpenSSH := flag.Bool("setup-openssh", false, "-setup: run each command through OpenSSH's ssh program, as a shell script does")
	flag.Parse()
	var err error
	switch {
	case *ups:
		err = upstreams()
	case *proxyTo != "":
		err = proxyProcess(*proxyTo)
	case *clients != "":
		err = sshClients(*clients)
	case *setupOrgs > 0:
		err = runSetup(*setupOrgs, *setupWorkers, *setupReconnect, *setupOpenSSH)
	case *process:
		err = runProcess(*duration, *rate, *concurrency, spread{*orgs, *keys, *assistants}, *phases, *databaseURL, strings.Fields(*compareEnv))
	case *sessions > 0:
		err = runSSH(*sessions)
	default:
		err = run(*duration, *rate, *concurrency)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// target is one way to reach the provider.
type target struct {
	name    string
	url     string   // chat completions URL
	urls    []string // or lamb's base URLs, one picked each request (several instances)
	auth    string   // Authorization header
	model   string
	callers []caller // spread traffic: each request picks one of these instead
	procs   []int    // the processes that serve it alone, whose CPU time is counted
}

func run(duration time.Duration, rate, concurrency int) error {
	ctx := context.Background()
	fake := fakeopenai.New()
	fakeURL, stopFake, err := serve(fake)
	if err != nil {
		return err
	}
	defer stopFake()

	proxyTarget, _ := url.Parse(fakeURL)
	proxy := httputil.NewSingleHostReverseProxy(proxyTarget)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}
	proxyURL, stopProxy, err := serve(proxy)
	if err != nil {
		return err
	}
	defer stopProxy()

	logger := slog.New(slog.DiscardHandler) // formatted as in production, then dropped
	svc, st, cleanup, err := newService(ctx, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	apiKey, model, err := setup(ctx, svc, fakeURL)
	if err != nil {
		return err
	}
	lambURL, stopLamb, err := serve(api.NewHandler(svc, logger, api.Options{}))
	if err != nil {
		return err
	}
	defer stopLamb()

	targets := []target{
		{name: "direct", url: fakeURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"},
		{name: "reverse proxy", url: proxyURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"},
		{name: "lamb", url: lambURL + "/v1/chat/completions", auth: "Bearer " + apiKey, model: model},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}

	fmt.Printf("lamb gateway benchmark — %d CPUs, %s per phase\n\n", runtimeCPUs(), duration)
	for _, t := range targets { // warm up connections and caches
		closedLoop(client, t, concurrency, time.Second, false)
	}

	fmt.Printf("Throughput, non-streaming, %d concurrent clients\n", concurrency)
	var proxyRPS float64
	for _, t := range targets {
		r := closedLoop(client, t, concurrency, duration, false)
		rps := float64(r.ok) / duration.Seconds()
		ratio := ""
		switch t.name {
		case "reverse proxy":
			proxyRPS = rps
		case "lamb":
			ratio = fmt.Sprintf("  = %.2f× the reverse proxy (target ≥ 0.70)", rps/proxyRPS)
		}
		fmt.Printf("  %-14s %8.0f req/s  (%d errors)%s\n", t.name, rps, r.errors, ratio)
	}

	fmt.Printf("\nLatency at %d req/s, non-streaming, the targets taking turns of %s\n", rate, latencySlice)
	all := interleaved(client, targets, rate, duration)
	direct := all[0].summary()
	for i, t := range targets {
		l := all[i].summary()
		extra := ""
		if i > 0 {
			extra = fmt.Sprintf("  overhead p50 %+.2f ms, p99 %+.2f ms", ms(l.p50-direct.p50), ms(l.p99-direct.p99))
			if t.name == "lamb" {
				extra += " (targets ≤ 1 ms, ≤ 5 ms)"
			}
		}
		fmt.Printf("  %-14s p50 %6.2f ms  p99 %6.2f ms  (%d sent, %d errors)%s\n", t.name, ms(l.p50), ms(l.p99), l.sent, l.errors, extra)
	}

	fmt.Printf("\nStreaming time to first byte (provider sends a chunk every 20 ms)\n")
	fake.SetDelay(0, 20*time.Millisecond)
	var directTTFB time.Duration
	for _, t := range []target{targets[0], targets[2]} {
		ttfb := firstByte(client, t, 200)
		extra := ""
		if t.name == "direct" {
			directTTFB = ttfb
		} else {
			extra = fmt.Sprintf("  overhead %+.2f ms (target ≤ 2 ms)", ms(ttfb-directTTFB))
		}
		fmt.Printf("  %-14s median %6.2f ms%s\n", t.name, ms(ttfb), extra)
	}

	// Every answered request must have left its usage row.
	svc.Close()
	return checkUsage(ctx, st)
}

// lambAnswered counts the requests lamb answered with 200.
var lambAnswered atomic.Int64

// checkUsage fails the run if a single request lamb answered lacks its
// usage row.
func checkUsage(ctx context.Context, stores ...*store.Store) error {
	var rows int64
	for _, st := range stores {
		n, err := st.CountUsageEventsWithStatus(ctx, "ok")
		if err != nil {
			return err
		}
		rows += n
	}
	fmt.Printf("\nUsage rows of answered requests: %d, requests lamb answered: %d", rows, lambAnswered.Load())
	if rows != lambAnswered.Load() {
		fmt.Printf("  MISMATCH\n")
		return fmt.Errorf("usage rows lost: %d of %d", lambAnswered.Load()-rows, lambAnswered.Load())
	}
	fmt.Printf("  (none lost)\n")
	return nil
}

func runtimeCPUs() int {
	n := 0
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		n = strings.Count(string(data), "processor\t:")
	}
	if n == 0 {
		n = 1
	}
	return n
}

// setup creates an org with a provider on the fake, an assistant and an
// org API key, through the service as an admin would.
func setup(ctx context.Context, svc *service.Service, fakeURL string) (apiKey, model string, err error) {
	root, err := benchAdmin(ctx, svc)
	if err != nil {
		return "", "", err
	}
	cs, err := provisionOrg(ctx, svc, root, "bench", fakeURL, 1, 1)
	if err != nil {
		return "", "", err
	}
	return cs[0].key, cs[0].model, nil
}

// newService opens a real database in a temp dir, migrated, with the
// system org synced, and the service over it.
func newService(ctx context.Context, logger *slog.Logger) (*service.Service, *store.Store, func(), error) {
	dir, err := os.MkdirTemp("", "lamb-bench")
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := store.Open(filepath.Join(dir, "lamb.db"), store.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	cleanup := func() { st.Close(); os.RemoveAll(dir) }
	if err := st.Migrate(ctx); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	box, _ := secret.NewBox(key)
	svc := service.New(service.Deps{Store: st, Box: box, Logger: logger})
	if _, err := svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{}); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return svc, st, cleanup, nil
}

// serve runs h on a loopback port.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func body(model string, stream bool) []byte {
	return []byte(fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":64,"messages":[{"role":"user","content":"Explain inertia in one sentence."}]}`, model, stream))
}

// do sends one request and reads the whole answer.
func do(client *http.Client, t target, stream bool) (time.Duration, bool) {
	auth, model := t.pick()
	req, _ := http.NewRequest(http.MethodPost, t.endpoint(), bytes.NewReader(body(model, stream)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if strings.HasPrefix(t.name, "lamb") && resp.StatusCode == http.StatusOK {
		lambAnswered.Add(1)
	}
	return time.Since(start), resp.StatusCode == http.StatusOK
}

type result struct{ ok, errors int64 }

// closedLoop runs n clients back to back for d.
func closedLoop(client *http.Client, t target, n int, d time.Duration, stream bool) result {
	var ok, bad atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, good := do(client, t, stream); good {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return result{ok.Load(), bad.Load()}
}

type latency struct {
	p50, p99     time.Duration
	sent, errors int
}

// samples are what an open loop saw: the latency of each good answer, and
// how many requests were sent.
type samples struct {
	good []time.Duration
	sent int
	cpu  time.Duration // used by the target's own processes, when known
}

func (s *samples) add(o samples) {
	s.good = append(s.good, o.good...)
	s.sent += o.sent
	s.cpu += o.cpu
}

// cpuPerRequest is the CPU time the target's processes spent on each
// request sent, or "" when not known.
func (s samples) cpuPerRequest() string {
	if s.cpu <= 0 || s.sent == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f µs CPU a request", float64(s.cpu.Microseconds())/float64(s.sent))
}

// cpuTime is the user and system CPU time the processes have used, from
// /proc (0 where there is none).
func cpuTime(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// The fields after the command's closing parenthesis; utime and
		// stime are the 12th and 13th of them.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return 0
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func (s samples) summary() latency {
	l := latency{sent: s.sent, errors: s.sent - len(s.good)}
	if len(s.good) == 0 {
		return l
	}
	good := slices.Clone(s.good)
	slices.Sort(good)
	l.p50, l.p99 = good[len(good)/2], good[len(good)*99/100]
	return l
}

// openLoop sends rate requests per second for d regardless of answers, so
// a slow target can't slow the load down (no coordinated omission).
func openLoop(client *http.Client, t target, rate int, d time.Duration) samples {
	total := int(d.Seconds() * float64(rate))
	lat := make([]time.Duration, total)
	oks := make([]bool, total)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i], oks[i] = do(client, t, false)
		}()
	}
	wg.Wait()
	s := samples{sent: total}
	for i, l := range lat {
		if oks[i] {
			s.good = append(s.good, l)
		}
	}
	return s
}

// latencySlice is how long each target is driven before the next takes
// its turn in interleaved.
const latencySlice = time.Second

// interleaved drives the targets at rate in turns of latencySlice until
// each had d, so the machine's hiccups (a virtual CPU descheduled, another
// process's garbage collection) fall on every target alike instead of on
// whichever ran when they came.
func interleaved(client *http.Client, ts []target, rate int, d time.Duration) []samples {
	all := make([]samples, len(ts))
	for done := time.Duration(0); done < d; done += latencySlice {
		turn := min(latencySlice, d-done)
		for i, t := range ts {
			before := cpuTime(t.procs)
			s := openLoop(client, t, rate, turn)
			s.cpu = cpuTime(t.procs) - before
			all[i].add(s)
		}
	}
	return all
}

// firstByte returns the median time to the first streamed chunk.
func firstByte(client *http.Client, t target, n int) time.Duration {
	b := body(t.model, true)
	var times []time.Duration
	for range n {
		req, _ := http.NewRequest(http.MethodPost, t.endpoint(), bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", t.auth)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		buf := make([]byte, 1)
		if _, err := resp.Body.Read(buf); err == nil {
			times = append(times, time.Since(start))
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(t.name, "lamb") && resp.StatusCode == http.StatusOK {
			lambAnswered.Add(1)
		}
	}
	slices.Sort(times)
	if len(times) == 0 {
		return 0
	}
	return times[len(times)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
