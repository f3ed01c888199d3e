package main

// The out-of-process gateway benchmark: what a user sees. lamb runs as its
// own process, built and started as the README says (default logging, to
// a file), on a database provisioned beforehand; the fake providers and
// the bare reverse-proxy hop run in a second process; this process is
// only the load generator. Traffic goes to one key calling one assistant,
// and spread over many orgs, keys and assistants.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/internal/fakeopenai"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

// upstreams runs in the child process: a fake provider that answers at
// once, one that streams a chunk every 20 ms, and a reverse proxy to the
// first. It prints their URLs and serves until its stdin closes.
func upstreams() error {
	fast := fakeopenai.New()
	fastURL, _, err := serve(fast)
	if err != nil {
		return err
	}
	slow := fakeopenai.New()
	slow.SetDelay(0, 20*time.Millisecond)
	slowURL, _, err := serve(slow)
	if err != nil {
		return err
	}
	u, _ := url.Parse(fastURL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}
	proxyURL, _, err := serve(proxy)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", fastURL, slowURL, proxyURL)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// spread is the shape of spread traffic.
type spread struct{ orgs, keys, assistants int }

// caller is one (API key, assistant) pair lamb is called with.
type caller struct{ key, model string }

// runProcess measures lamb as its own process.
func runProcess(duration time.Duration, rate, concurrency int, sp spread, phases string) error {
	run := func(phase string) bool { return phases == "" || strings.Contains(phases, phase) }
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lamb-bench-process")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	up := exec.Command(self, "-upstreams")
	upIn, _ := up.StdinPipe()
	upOut, _ := up.StdoutPipe()
	up.Stderr = os.Stderr
	if err := up.Start(); err != nil {
		return err
	}
	defer func() { upIn.Close(); up.Wait() }()
	var fastURL, slowURL, proxyURL string
	if _, err := fmt.Fscan(bufio.NewReader(upOut), &fastURL, &slowURL, &proxyURL); err != nil {
		return fmt.Errorf("start the upstreams: %w", err)
	}

	fmt.Printf("lamb gateway benchmark, lamb as its own process — %d CPUs, %s per phase\n", runtimeCPUs(), duration)
	fmt.Printf("provisioning %d orgs × %d keys × %d assistants…\n", sp.orgs, sp.keys, sp.assistants)
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	one, many, streamer, err := provision(ctx, dir, key, fastURL, slowURL, sp)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}

	bin := filepath.Join(dir, "lamb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/lamb")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build lamb (run the benchmark from the repository root): %w", err)
	}
	httpAddr, sshAddr := freeAddr(), freeAddr()
	logFile, err := os.Create(filepath.Join(dir, "lamb.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	lamb := exec.Command(bin)
	lamb.Dir = dir
	lamb.Env = append(os.Environ(),
		"LAMB_DATA_DIR="+filepath.Join(dir, "data"),
		"LAMB_SECRET_KEY="+base64.StdEncoding.EncodeToString(key),
		"LAMB_HTTP_ADDR="+httpAddr, "LAMB_SSH_ADDR="+sshAddr,
		// One load generator stands for many clients, as a reverse proxy does.
		"LAMB_HTTP_CONNECTIONS_PER_ADDRESS=4096")
	lamb.Stdout, lamb.Stderr = logFile, logFile
	if err := lamb.Start(); err != nil {
		return err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			lamb.Process.Signal(syscall.SIGTERM)
			lamb.Wait()
		}
	}
	defer stop()
	lambURL := "http://" + httpAddr
	if err := waitHealthy(lambURL, 30*time.Second); err != nil {
		return err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}
	targets := []target{
		{name: "direct", url: fastURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"},
		{name: "reverse proxy", url: proxyURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"},
		{name: "lamb", url: lambURL + "/v1/chat/completions", auth: "Bearer " + one.key, model: one.model},
		{name: "lamb spread", url: lambURL + "/v1/chat/completions", callers: many},
	}
	for _, t := range targets { // warm up connections and caches
		closedLoop(client, t, concurrency, 2*time.Second, false)
	}

	rps := map[string]float64{}
	if run("throughput") {
		fmt.Printf("\nThroughput, non-streaming, %d concurrent clients\n", concurrency)
	}
	for _, t := range targets {
		if !run("throughput") {
			break
		}
		r := closedLoop(client, t, concurrency, duration, false)
		rps[t.name] = float64(r.ok) / duration.Seconds()
		extra := ""
		switch t.name {
		case "lamb":
			extra = fmt.Sprintf("  = %.2f× the reverse proxy (target ≥ 0.80)", rps["lamb"]/rps["reverse proxy"])
		case "lamb spread":
			extra = fmt.Sprintf("  = %.2f× one key calling one assistant (target ≥ 0.80)", rps["lamb spread"]/rps["lamb"])
		}
		fmt.Printf("  %-14s %8.0f req/s  (%d errors)%s\n", t.name, rps[t.name], r.errors, extra)
	}

	if run("latency") {
		fmt.Printf("\nLatency at %d req/s, non-streaming\n", rate)
	}
	var direct latency
	for _, t := range targets {
		if !run("latency") {
			break
		}
		l := openLoop(client, t, rate, duration)
		extra := ""
		if t.name == "direct" {
			direct = l
		} else {
			extra = fmt.Sprintf("  overhead p50 %+.2f ms, p99 %+.2f ms", ms(l.p50-direct.p50), ms(l.p99-direct.p99))
			if strings.HasPrefix(t.name, "lamb") {
				extra += " (targets ≤ 1 ms, ≤ 5 ms)"
			}
		}
		fmt.Printf("  %-14s p50 %6.2f ms  p99 %6.2f ms  (%d sent, %d errors)%s\n", t.name, ms(l.p50), ms(l.p99), l.sent, l.errors, extra)
	}

	if run("stream") {
		fmt.Printf("\nStreaming time to first byte (provider sends a chunk every 20 ms)\n")
		directTTFB := firstByte(client, target{name: "direct", url: slowURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"}, 200)
		lambTTFB := firstByte(client, target{name: "lamb", url: lambURL + "/v1/chat/completions", auth: "Bearer " + streamer.key, model: streamer.model}, 200)
		fmt.Printf("  %-14s median %6.2f ms\n", "direct", ms(directTTFB))
		fmt.Printf("  %-14s median %6.2f ms  overhead %+.2f ms (target ≤ 2 ms)\n", "lamb", ms(lambTTFB), ms(lambTTFB-directTTFB))
	}

	// SIGTERM flushes the usage queue: every answered request has its row.
	stop()
	st, err := store.Open(filepath.Join(dir, "data", "lamb.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return checkUsage(ctx, st)
}

// provision creates, through the service as admins would, an org "bench"
// with one key and one assistant, sp.orgs orgs with sp.keys keys and
// sp.assistants assistants each, and an org whose provider streams slowly.
func provision(ctx context.Context, dir string, key []byte, fastURL, slowURL string, sp spread) (one caller, many []caller, streamer caller, err error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return one, nil, streamer, err
	}
	st, err := store.Open(filepath.Join(dataDir, "lamb.db"), store.Options{})
	if err != nil {
		return one, nil, streamer, err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return one, nil, streamer, err
	}
	box, _ := secret.NewBox(key)
	svc := service.New(service.Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler)})
	defer svc.Close()
	if _, err := svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{}); err != nil {
		return one, nil, streamer, err
	}
	root, err := benchAdmin(ctx, svc)
	if err != nil {
		return one, nil, streamer, err
	}
	org := func(slug, providerURL string, keys, assistants int) ([]caller, error) {
		return provisionOrg(ctx, svc, root, slug, providerURL, keys, assistants)
	}
	single, err := org("bench", fastURL, 1, 1)
	if err != nil {
		return one, nil, streamer, err
	}
	stream, err := org("stream", slowURL, 1, 1)
	if err != nil {
		return one, nil, streamer, err
	}
	for i := range sp.orgs {
		cs, err := org(fmt.Sprintf("dept-%d", i), fastURL, sp.keys, sp.assistants)
		if err != nil {
			return one, nil, streamer, err
		}
		many = append(many, cs...)
	}
	mrand.Shuffle(len(many), func(i, j int) { many[i], many[j] = many[j], many[i] })
	return single[0], many, stream[0], nil
}

// benchAdmin makes a system admin to provision with.
func benchAdmin(ctx context.Context, svc *service.Service) (service.Actor, error) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	if err := svc.BootstrapAdmins(ctx, service.SystemActor(), []string{line}, "bench@lamb.local", "Bench"); err != nil {
		return service.Actor{}, err
	}
	return svc.ActorForSSHKey(ctx, ssh.FingerprintSHA256(pk))
}

// provisionOrg creates, through the service as admins would, an org whose
// OpenAI provider is providerURL, with generous limits on (the admission
// path is measured, not a refusal), an owner with the given number of
// assistants, and that many org keys; it returns every (key, assistant)
// pair.
func provisionOrg(ctx context.Context, svc *service.Service, root service.Actor, slug, providerURL string, keys, assistants int) ([]caller, error) {
	if _, err := svc.CreateOrg(ctx, root, service.CreateOrgInput{Slug: slug, Name: slug}); err != nil {
		return nil, err
	}
	admin, err := svc.OpenAsOrgAdmin(ctx, root, slug)
	if err != nil {
		return nil, err
	}
	k := "sk-bench"
	if err := svc.UpdateProvider(ctx, admin, slug, "default", "openai", service.ProviderInput{Enabled: true,
		BaseURL: providerURL + "/v1", APIKey: &k, Models: []string{"gpt-4o-mini"}}); err != nil {
		return nil, err
	}
	if err := svc.SetLimits(ctx, admin, slug, config.Limits{TokensPerMonth: 1 << 50, RequestsPerMinute: 1 << 40,
		MaxUsers: -1, MaxAssistants: -1, MaxAssistantsPerUser: -1, UserTokensPerMonth: 1 << 50}); err != nil {
		return nil, err
	}
	owner := "owner@" + slug + ".example"
	if _, err := svc.CreateUser(ctx, root, service.CreateUserInput{OrgSlug: slug, Email: owner, Name: "Owner", Password: "benchmark-pw"}); err != nil {
		return nil, err
	}
	var models, apiKeys []string
	for i := range assistants {
		a, err := svc.CreateAssistant(ctx, admin, service.AssistantInput{Owner: owner, Name: fmt.Sprintf("Bench %d", i),
			Provider: "openai", Model: "gpt-4o-mini", SystemPrompt: "You are a helpful assistant.", Enabled: true})
		if err != nil {
			return nil, err
		}
		models = append(models, a.Model)
	}
	for i := range keys {
		k, err := svc.CreateAPIKey(ctx, admin, slug, fmt.Sprintf("bench %d", i), false, time.Time{})
		if err != nil {
			return nil, err
		}
		apiKeys = append(apiKeys, k.Key)
	}
	var out []caller
	for _, k := range apiKeys {
		for _, m := range models {
			out = append(out, caller{k, m})
		}
	}
	return out, nil
}

// pick returns the key and model of the next request to t.
func (t target) pick() (auth, model string) {
	if len(t.callers) == 0 {
		return t.auth, t.model
	}
	c := t.callers[mrand.IntN(len(t.callers))]
	return "Bearer " + c.key, c.model
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("lamb did not answer /healthz within %s", limit)
}
