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
	proxyURL, _, err := serve(bareProxy(fastURL))
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", fastURL, slowURL, proxyURL)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// bareProxy is the floor a gateway is measured against: a reverse proxy
// that does nothing but relay.
func bareProxy(to string) http.Handler {
	u, _ := url.Parse(to)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}
	return proxy
}

// proxyProcess runs in a child process: the bare reverse proxy on its
// own, a process between client and provider as lamb is. It prints its
// URL and serves until its stdin closes.
func proxyProcess(to string) error {
	proxyURL, _, err := serve(bareProxy(to))
	if err != nil {
		return err
	}
	fmt.Println(proxyURL)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// child starts this program with args and reads the words it prints
// first; stop ends it. pid, when not nil, is set to its process id.
func child(args []string, pid *int, words ...*string) (stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() { in.Close(); cmd.Wait() }
	if pid != nil {
		*pid = cmd.Process.Pid
	}
	r := bufio.NewReader(out)
	for _, w := range words {
		if _, err := fmt.Fscan(r, w); err != nil {
			stop()
			return nil, fmt.Errorf("start %v: %w", args, err)
		}
	}
	return stop, nil
}

// spread is the shape of spread traffic.
type spread struct{ orgs, keys, assistants int }

// caller is one (API key, assistant) pair lamb is called with.
type caller struct{ key, model string }

// runProcess measures lamb as its own process: on SQLite, and with
// databaseURL also on PostgreSQL, one instance and then two behind the
// load generator. With compareEnv a second lamb, on a copy of the SQLite
// database and with those settings added, takes the same turns.
func runProcess(duration time.Duration, rate, concurrency int, sp spread, phases, databaseURL string, compareEnv []string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lamb-bench-process")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var fastURL, slowURL, proxyURL, ownProxyURL string
	stopUpstreams, err := child([]string{"-upstreams"}, nil, &fastURL, &slowURL, &proxyURL)
	if err != nil {
		return err
	}
	defer stopUpstreams()
	var proxyPid int
	stopProxy, err := child([]string{"-proxy-to", fastURL}, &proxyPid, &ownProxyURL)
	if err != nil {
		return err
	}
	defer stopProxy()
	bin := filepath.Join(dir, "lamb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/lamb")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build lamb (run the benchmark from the repository root): %w", err)
	}

	fmt.Printf("lamb gateway benchmark, lamb as its own process — %d CPUs, %s per phase\n", runtimeCPUs(), duration)
	fmt.Printf("provisioning %d orgs × %d keys × %d assistants per database…\n", sp.orgs, sp.keys, sp.assistants)
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	m := &measure{client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}},
		duration: duration, rate: rate, concurrency: concurrency, phases: phases, rps: map[string]float64{}}
	m.add(target{name: "direct", url: fastURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"}, nil)
	m.add(target{name: "reverse proxy", url: proxyURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"}, nil)
	m.add(target{name: "proxy process", url: ownProxyURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini", procs: []int{proxyPid}}, nil)

	// SQLite, the embedded default.
	sqliteDir := filepath.Join(dir, "sqlite")
	dataDir := filepath.Join(sqliteDir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(dataDir, "lamb.db"), store.Options{})
	if err != nil {
		return err
	}
	one, many, streamer, err := provision(ctx, st, key, fastURL, slowURL, sp)
	st.Close()
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	env := []string{"LAMB_DATA_DIR=" + dataDir, "LAMB_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key)}
	var variant *instance
	if len(compareEnv) > 0 {
		vdir := filepath.Join(dir, "compared")
		if err := os.CopyFS(vdir, os.DirFS(sqliteDir)); err != nil {
			return fmt.Errorf("copy the database for -compare-env: %w", err)
		}
		venv := append([]string{"LAMB_DATA_DIR=" + filepath.Join(vdir, "data"), "LAMB_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key)}, compareEnv...)
		if variant, err = startLamb(bin, vdir, venv); err != nil {
			return err
		}
		defer variant.stop()
	}
	lamb, err := startLamb(bin, sqliteDir, env)
	if err != nil {
		return err
	}
	lambAnswered.Store(0)
	m.add(target{name: "lamb", urls: []string{lamb.url}, auth: "Bearer " + one.key, model: one.model}, []*instance{lamb})
	if variant != nil {
		m.add(target{name: "lamb compared", urls: []string{variant.url}, auth: "Bearer " + one.key, model: one.model}, []*instance{variant})
	}
	m.add(target{name: "lamb spread", urls: []string{lamb.url}, callers: many}, []*instance{lamb})
	if variant != nil {
		m.add(target{name: "lamb compared spread", urls: []string{variant.url}, callers: many}, []*instance{variant})
	}
	m.run(m.targets)
	if m.wants("stream") {
		fmt.Printf("\nStreaming time to first byte (provider sends a chunk every 20 ms)\n")
		directTTFB := firstByte(m.client, target{name: "direct", url: slowURL + "/v1/chat/completions", auth: "Bearer sk-bench", model: "gpt-4o-mini"}, 200)
		lambTTFB := firstByte(m.client, target{name: "lamb", urls: []string{lamb.url}, auth: "Bearer " + streamer.key, model: streamer.model}, 200)
		fmt.Printf("  %-22s median %6.2f ms\n", "direct", ms(directTTFB))
		fmt.Printf("  %-22s median %6.2f ms  overhead %+.2f ms (target ≤ 2 ms)\n", "lamb", ms(lambTTFB), ms(lambTTFB-directTTFB))
	}
	// SIGTERM flushes the usage queue: every answered request has its row.
	lamb.stop()
	dbs := []string{filepath.Join(dataDir, "lamb.db")}
	if variant != nil {
		variant.stop()
		dbs = append(dbs, filepath.Join(dir, "compared", "data", "lamb.db"))
	}
	var stores []*store.Store
	for _, path := range dbs {
		st, err := store.Open(path, store.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		stores = append(stores, st)
	}
	err = checkUsage(ctx, stores...)
	if err != nil || databaseURL == "" {
		return err
	}

	// PostgreSQL: one instance, then two sharing the database.
	url, drop, err := scratchDatabase(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer drop()
	if st, err = store.OpenURL(ctx, url, store.Options{}); err != nil {
		return err
	}
	one, many, _, err = provision(ctx, st, key, fastURL, slowURL, sp)
	st.Close()
	if err != nil {
		return fmt.Errorf("provision on PostgreSQL: %w", err)
	}
	env = []string{"LAMB_DATABASE_URL=" + url, "LAMB_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key)}
	pgDir := filepath.Join(dir, "postgres")
	a, err := startLamb(bin, pgDir+"-a", env)
	if err != nil {
		return err
	}
	defer a.stop()
	lambAnswered.Store(0)
	fmt.Printf("\nOn PostgreSQL (limits on: every request is admitted against a month budget and a requests-per-minute window)\n")
	pg := []target{
		{name: "lamb pg", urls: []string{a.url}, auth: "Bearer " + one.key, model: one.model},
		{name: "lamb pg spread", urls: []string{a.url}, callers: many},
	}
	for _, t := range pg {
		m.add(t, []*instance{a})
	}
	m.run(m.targets[len(m.targets)-2:])
	b, err := startLamb(bin, pgDir+"-b", env)
	if err != nil {
		return err
	}
	defer b.stop()
	both := []target{
		{name: "lamb pg ×2", urls: []string{a.url, b.url}, auth: "Bearer " + one.key, model: one.model},
		{name: "lamb pg ×2 spread", urls: []string{a.url, b.url}, callers: many},
	}
	for _, t := range both {
		m.add(t, []*instance{a, b})
	}
	m.run(m.targets[len(m.targets)-2:])
	a.stop()
	b.stop()
	if st, err = store.OpenURL(ctx, url, store.Options{}); err != nil {
		return err
	}
	defer st.Close()
	return checkUsage(ctx, st)
}

// provision creates in st, through the service as admins would, an org "bench"
// with one key and one assistant, sp.orgs orgs with sp.keys keys and
// sp.assistants assistants each, and an org whose provider streams slowly.
func provision(ctx context.Context, st *store.Store, key []byte, fastURL, slowURL string, sp spread) (one caller, many []caller, streamer caller, err error) {
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

// endpoint returns the chat completions URL of the next request to t.
func (t target) endpoint() string {
	if len(t.urls) == 0 {
		return t.url
	}
	return t.urls[mrand.IntN(len(t.urls))] + "/v1/chat/completions"
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
