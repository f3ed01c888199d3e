package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/crypto/ssh"

	"lamb/internal/fakeopenai"
	"lamb/internal/pgtest"
)

// pair is two lamb processes on one PostgreSQL database, as behind a load
// balancer, with an org whose assistant answers through a fake provider.
type pair struct {
	url    string
	a, b   *proc
	admin  ssh.Signer
	fake   *fakeopenai.Server
	key    string // an API key of the org
	model  string // its assistant
	client *http.Client
}

// startPair starts two processes on a fresh database and sets up org acme
// through the first one, with limits (a JSON object) in its config.
func startPair(t *testing.T, limits string) *pair {
	t.Helper()
	p := &pair{url: pgtest.URL(t), fake: fakeopenai.New(), client: &http.Client{Timeout: 20 * time.Second}}
	srv := httptest.NewServer(p.fake)
	t.Cleanup(srv.Close)
	var adminKey string
	p.admin, adminKey = newSigner(t)
	env := []string{"LAMB_DATABASE_URL=" + p.url, "LAMB_SECRET_KEY=" + testSecretKey, "LAMB_ADMIN_KEYS=" + adminKey}
	p.a = start(t, t.TempDir(), env...)
	p.b = start(t, t.TempDir(), env...)
	sshCmd(t, p.a.sshAddr, p.admin, "", "org", "create", "acme", "--name", "Acme", "--admin-email", "boss@acme.example", "--admin-name", "Boss")
	cfg := fmt.Sprintf(`{"version":1,"active_setup":"default","setups":{"default":{"default_provider":"openai",
		"providers":{"openai":{"enabled":true,"api_key":"sk-x","base_url":%q,"models":["m"],"default_model":"m"}}}},
		"features":{"signup_enabled":false},"limits":%s}`, srv.URL+"/v1", limits)
	sshCmd(t, p.a.sshAddr, p.admin, cfg, "org", "config", "set", "acme")
	sshCmd(t, p.a.sshAddr, p.admin, "", "assistant", "create", "--owner", "boss@acme.example", "--name", "Tutor", "--provider", "openai", "--model", "m")
	p.key = p.newKey(t)
	models := sshCmd(t, p.a.sshAddr, p.admin, "", "assistant", "list", "--org", "acme", "--json")
	p.model = "lamb_assistant." + between(models, `"id":`, ",")
	return p
}

func (p *pair) newKey(t *testing.T) string {
	t.Helper()
	out := strings.TrimSpace(sshCmd(t, p.a.sshAddr, p.admin, "", "apikey", "create", "--org", "acme", "--name", "lms"))
	key := out[strings.LastIndex(out, "\n")+1:]
	if !strings.HasPrefix(key, "lamb_") {
		t.Fatalf("apikey create printed %q", out)
	}
	return key
}

// complete asks one process for a completion and returns the status.
func (p *pair) complete(via *proc, key, extra string) (int, error) {
	body := `{"model":"` + p.model + `","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+via.httpAddr+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// usage sums the org's stored usage: answered requests and their tokens.
func (p *pair) usage(t *testing.T) (answered, tokens int64) {
	t.Helper()
	db, err := sql.Open("pgx", p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage_events WHERE status = 'ok'`).
		Scan(&answered, &tokens); err != nil {
		t.Fatal(err)
	}
	return answered, tokens
}

func (p *pair) stop(t *testing.T, which *proc) {
	t.Helper()
	which.cmd.Process.Signal(syscall.SIGTERM)
	if code := which.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, which.stderr)
	}
}

// The attack: two instances behind a load balancer each kept the org's
// budget in memory, so an org could spend it once per instance. 120
// concurrent requests split across both spend at most the budget (and one
// request's overrun: each settles what the provider says it used).
func TestTwoInstancesSpendOneBudget(t *testing.T) {
	const budget, perRequest = 600, 15 // the fake answers 5 + 10 tokens
	p := startPair(t, fmt.Sprintf(`{"tokens_per_month":%d}`, budget))
	p.fake.SetUsage(5, 10)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 120 {
		via := p.a
		if i%2 == 1 {
			via = p.b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := p.complete(via, p.key, `,"max_tokens":10`)
			switch {
			case err != nil:
				t.Errorf("request: %v", err)
			case status == 200:
				ok.Add(1)
			case status == 429:
				refused.Add(1)
			default:
				t.Errorf("status %d", status)
			}
		}()
	}
	wg.Wait()
	p.stop(t, p.a)
	p.stop(t, p.b)
	answered, tokens := p.usage(t)
	if answered != ok.Load() {
		t.Fatalf("%d usage rows for %d answered requests", answered, ok.Load())
	}
	if tokens > budget+perRequest {
		t.Fatalf("two instances spent %d tokens of a budget of %d (%d answered, %d refused)", tokens, budget, ok.Load(), refused.Load())
	}
	if refused.Load() == 0 || ok.Load() < budget/perRequest/2 {
		t.Fatalf("%d answered, %d refused: the budget of %d should answer about %d", ok.Load(), refused.Load(), budget, budget/perRequest)
	}
}

// A key revoked through one instance is refused by the other within a
// second (the change counter each polls).
func TestKeyRevokedThroughOneInstanceIsRefusedByTheOther(t *testing.T) {
	p := startPair(t, `{}`)
	if status, err := p.complete(p.b, p.key, ""); err != nil || status != 200 {
		t.Fatalf("before revoking: %d, %v", status, err)
	}
	keys := sshCmd(t, p.a.sshAddr, p.admin, "", "apikey", "list", "--org", "acme", "--json")
	id := between(keys, `"id":`, ",")
	sshCmd(t, p.a.sshAddr, p.admin, "", "apikey", "revoke", id)
	revoked := time.Now()
	for {
		status, err := p.complete(p.b, p.key, "")
		if err != nil {
			t.Fatal(err)
		}
		if status == 401 {
			t.Logf("the other instance refused the revoked key after %v", time.Since(revoked).Round(10*time.Millisecond))
			return
		}
		if time.Since(revoked) > 5*time.Second {
			t.Fatalf("the other instance still answers a key revoked %v ago (status %d)", time.Since(revoked), status)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// SIGTERM of one instance under load: the other keeps answering, and every
// answered request, on either, has its usage row.
func TestSigtermOfOneInstanceUnderLoad(t *testing.T) {
	p := startPair(t, `{}`)
	p.fake.SetDelay(10*time.Millisecond, 0)
	var answered, answeredByB atomic.Int64
	var aDown atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		via := p.a
		if i%2 == 1 {
			via = p.b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if via == p.a && aDown.Load() {
					via = p.b // the load balancer sends the rest elsewhere
				}
				status, err := p.complete(via, p.key, "")
				switch {
				case err != nil || status == 503:
					if via == p.a {
						aDown.Store(true)
						continue
					}
					t.Errorf("the instance left running: %d, %v", status, err)
					return
				case status == 200:
					answered.Add(1)
					if via == p.b && aDown.Load() {
						answeredByB.Add(1)
					}
				default:
					t.Errorf("status %d", status)
					return
				}
			}
		}()
	}
	waitUntil(t, 30*time.Second, "50 answers", func() bool { return answered.Load() >= 50 })
	p.a.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.a.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM under load:\n%s", code, p.a.stderr)
	}
	aDown.Store(true)
	before := answeredByB.Load()
	waitUntil(t, 30*time.Second, "50 answers by the instance left", func() bool { return answeredByB.Load() >= before+50 })
	close(stop)
	wg.Wait()
	p.stop(t, p.b)
	if rows, _ := p.usage(t); rows != answered.Load() {
		t.Fatalf("%d usage rows for %d answered requests", rows, answered.Load())
	}
}

// Two instances started at the same moment on an empty database: both
// serve, the schema is migrated once, there is one lamb org and one
// bootstrap admin, and both print the same claim code when no admin key
// is given.
func TestTwoInstancesStartingAtOnce(t *testing.T) {
	url := pgtest.URL(t)
	admin, adminKey := newSigner(t)
	env := []string{"LAMB_DATABASE_URL=" + url, "LAMB_SECRET_KEY=" + testSecretKey,
		"LAMB_ADMIN_KEYS=" + adminKey, "LAMB_ADMIN_EMAIL=root@uni.example"}
	var procs [2]*proc
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i] = start(t, t.TempDir(), env...)
		}()
	}
	wg.Wait()
	for i, p := range procs {
		if out := runSSH(t, p.sshAddr, admin); !strings.Contains(out, "root@uni.example") {
			t.Fatalf("instance %d: admin session printed %q", i, out)
		}
	}
	orgs := sshCmd(t, procs[1].sshAddr, admin, "", "org", "list", "--json")
	if n := len(regexp.MustCompile(`"slug":\s*"lamb"`).FindAllString(orgs, -1)); n != 1 {
		t.Fatalf("%d lamb orgs after two starts at once: %s", n, orgs)
	}
	users := sshCmd(t, procs[0].sshAddr, admin, "", "user", "list", "--org", "lamb", "--json")
	if n := len(regexp.MustCompile(`"email":\s*"root@uni.example"`).FindAllString(users, -1)); n != 1 {
		t.Fatalf("the bootstrap admin %d times: %s", n, users)
	}

	// Without admin keys, on a fresh database: one claim code for both.
	url = pgtest.URL(t)
	env = []string{"LAMB_DATABASE_URL=" + url, "LAMB_SECRET_KEY=" + testSecretKey}
	var codes [2]string
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := launch(t, t.TempDir(), env...)
			l := p.waitFor(t, func(l map[string]any) bool { return l["claim_code"] != nil })
			codes[i], _ = l["claim_code"].(string)
		}()
	}
	wg.Wait()
	if codes[0] == "" || codes[0] != codes[1] {
		t.Fatalf("claim codes %q and %q", codes[0], codes[1])
	}
}
