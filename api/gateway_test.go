package api

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/internal/fakeopenai"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

// gwEnv is a gateway over real SQLite and a real HTTP server, with two orgs
// whose OpenAI provider is a fake on loopback.
type gwEnv struct {
	t       *testing.T
	dbPath  string
	svc     *service.Service
	st      *store.Store
	srv     *httptest.Server
	fake    *fakeopenai.Server
	fakeSrv *httptest.Server
	root    service.Actor
	admins  map[string]service.Actor // org slug → its admin
	members map[string]service.Actor // org slug → a member
	now     time.Time
	nowMu   sync.Mutex
}

func (e *gwEnv) clock() time.Time {
	e.nowMu.Lock()
	defer e.nowMu.Unlock()
	if e.now.IsZero() {
		return time.Now()
	}
	return e.now
}

func (e *gwEnv) setNow(t time.Time) {
	e.nowMu.Lock()
	e.now = t
	e.nowMu.Unlock()
}

func newGwEnv(t *testing.T, timeout time.Duration) *gwEnv {
	t.Helper()
	return newGwEnvKB(t, timeout, 0)
}

// newGwEnvKB is newGwEnv with a bound on knowledge-base retrieval (0: the
// service's default).
func newGwEnvKB(t *testing.T, timeout, kbTimeout time.Duration) *gwEnv {
	t.Helper()
	return newGwEnvDeps(t, timeout, kbTimeout, func(*service.Deps) {})
}

// newGwEnvDeps is newGwEnvKB with the service's dependencies changed by
// deps before it is built.
func newGwEnvDeps(t *testing.T, timeout, kbTimeout time.Duration, deps func(*service.Deps)) *gwEnv {
	t.Helper()
	ctx := context.Background()
	e := &gwEnv{t: t, admins: map[string]service.Actor{}, members: map[string]service.Actor{}}
	e.dbPath = filepath.Join(t.TempDir(), "lamb.db")
	st, err := store.Open(e.dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	box, _ := secret.NewBox(key)
	e.st = st
	d := service.Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: e.clock, ProviderTimeout: timeout, KBTimeout: kbTimeout}
	deps(&d)
	e.svc = service.New(d)
	e.fake = fakeopenai.New()
	e.fake.RequireKey("sk-org-key-0123456789")
	e.fakeSrv = httptest.NewServer(e.fake)
	e.srv = httptest.NewServer(NewHandler(e.svc, slog.New(slog.DiscardHandler), Options{PublicURL: "http://lamb.test"}))
	t.Cleanup(func() { e.srv.Close(); e.fakeSrv.Close(); e.svc.Close(); st.Close() })

	if _, err := e.svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{}); err != nil {
		t.Fatal(err)
	}
	line, fp := gwKey(t)
	if err := e.svc.BootstrapAdmins(ctx, service.SystemActor(), []string{line}, "root@uni.example", "Root"); err != nil {
		t.Fatal(err)
	}
	e.root, _ = e.svc.ActorForSSHKey(ctx, fp)
	for _, slug := range []string{"acme", "beta"} {
		res, err := e.svc.CreateOrg(ctx, e.root, service.CreateOrgInput{Slug: slug, Name: slug,
			Admin: &service.NewAdmin{Email: "admin@" + slug + ".example", Name: "Admin", SSHKey: mustKey(t)}})
		if err != nil {
			t.Fatal(err)
		}
		e.admins[slug] = e.actor(res.Admin.Email)
		key := "sk-org-key-0123456789"
		if err := e.svc.UpdateProvider(ctx, e.admins[slug], slug, "default", "openai", service.ProviderInput{
			Enabled: true, BaseURL: e.fakeSrv.URL + "/v1", APIKey: &key, Models: []string{"gpt-4o-mini", "gpt-4o"}, DefaultModel: "gpt-4o-mini"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateUser(ctx, e.admins[slug], service.CreateUserInput{OrgSlug: slug, Email: "member@" + slug + ".example",
			Name: "Member", SSHKey: mustKey(t)}); err != nil {
			t.Fatal(err)
		}
		e.members[slug] = e.actor("member@" + slug + ".example")
	}
	return e
}

func gwKey(t *testing.T) (line, fingerprint string) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))), ssh.FingerprintSHA256(pk)
}

func mustKey(t *testing.T) string {
	l, _ := gwKey(t)
	return l
}

// actor signs in as a user by giving them a new key.
func (e *gwEnv) actor(email string) service.Actor {
	e.t.Helper()
	line, fp := gwKey(e.t)
	if _, err := e.svc.AddSSHKey(context.Background(), e.root, email, line); err != nil {
		e.t.Fatal(err)
	}
	a, err := e.svc.ActorForSSHKey(context.Background(), fp)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *gwEnv) assistant(owner service.Actor, in service.AssistantInput) service.Assistant {
	e.t.Helper()
	if in.Provider == "" {
		in.Provider = "openai"
	}
	if in.Name == "" {
		in.Name = "Tutor"
	}
	a, err := e.svc.CreateAssistant(context.Background(), owner, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *gwEnv) apiKey(a service.Actor, personal bool) string {
	e.t.Helper()
	k, err := e.svc.CreateAPIKey(context.Background(), a, "", "test", personal, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return k.Key
}

// client is the real go-openai client pointed at lamb.
func (e *gwEnv) client(key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = e.srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

func (e *gwEnv) post(key, body string) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestChatRoundTripWithGoOpenAI(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	temp := 0.0
	a := e.assistant(e.members["acme"], service.AssistantInput{SystemPrompt: "You are a physics tutor.", Model: "gpt-4o", Temperature: &temp})
	cl := e.client(e.apiKey(e.members["acme"], true))
	resp, err := cl.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model:     a.Model,
		Messages:  []openai.ChatCompletionMessage{{Role: "user", Content: "What is inertia?"}},
		MaxTokens: 50, TopP: 0.5, Stop: []string{"END"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "gpt-4o" || resp.Choices[0].Message.Content != "Hello from the fake provider." {
		t.Fatalf("response = %+v", resp)
	}
	got := e.fake.Last()
	if got.Model != "gpt-4o" || got.Auth != "Bearer sk-org-key-0123456789" {
		t.Fatalf("provider got model %q auth %q", got.Model, got.Auth)
	}
	if len(got.Messages) != 2 || got.Messages[0]["role"] != "system" || got.Messages[0]["content"] != "You are a physics tutor." {
		t.Fatalf("system prompt not first: %+v", got.Messages)
	}
	if got.MaxTokens != 50 || got.TopP == nil || *got.TopP != 0.5 || len(got.Stop) != 1 || got.Stop[0] != "END" {
		t.Fatalf("parameters not passed through: %+v", got)
	}
	if got.Temperature == nil || *got.Temperature > 1e-6 {
		t.Fatalf("assistant temperature 0 not sent: %v", got.Temperature)
	}
}

func TestModelFallbackToDefault(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{Model: "gpt-4o"})
	// The admin narrows the provider's models: gpt-4o is no longer offered.
	key := "sk-org-key-0123456789"
	if err := e.svc.UpdateProvider(context.Background(), e.admins["acme"], "acme", "default", "openai", service.ProviderInput{
		Enabled: true, BaseURL: e.fakeSrv.URL + "/v1", APIKey: &key, Models: []string{"gpt-4o-mini"}, DefaultModel: "gpt-4o-mini"}); err != nil {
		t.Fatal(err)
	}
	e.expireCaches()
	resp, body := e.post(e.apiKey(e.members["acme"], true), `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Lamb-Model") != "gpt-4o-mini" || body["model"] != "gpt-4o-mini" {
		t.Fatalf("fallback: %d %s %v", resp.StatusCode, resp.Header.Get("X-Lamb-Model"), body)
	}
}

// expireCaches moves the service clock past the cache TTL.
func (e *gwEnv) expireCaches() {
	e.setNow(e.clock().Add(2 * time.Second))
}

func TestStreamingRelaysChunksAsTheyCome(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	e.fake.SetDelay(0, 300*time.Millisecond)
	cl := e.client(e.apiKey(e.members["acme"], true))
	stream, err := cl.CreateChatCompletionStream(context.Background(), openai.ChatCompletionRequest{
		Model: a.Model, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var arrivals []time.Time
	var text strings.Builder
	var usage *openai.Usage
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			arrivals = append(arrivals, time.Now())
			text.WriteString(c.Choices[0].Delta.Content)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if text.String() != "Hello from the fake provider." || usage == nil || usage.CompletionTokens != 3 {
		t.Fatalf("text %q usage %+v", text.String(), usage)
	}
	// The fake waits 300 ms between chunks: had lamb buffered, they would
	// arrive together.
	if len(arrivals) != 3 || arrivals[2].Sub(arrivals[0]) < 400*time.Millisecond {
		t.Fatalf("chunks arrived at %v", arrivals)
	}
	if !e.fake.Last().Stream || e.fake.Last().StreamOpts == nil || !e.fake.Last().StreamOpts.IncludeUsage {
		t.Fatal("stream_options.include_usage not forced")
	}
}

func TestStreamEndsWithDoneAndErrorEventMidStream(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	read := func() []string {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"`+a.Model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		var events []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data: ") {
				events = append(events, strings.TrimPrefix(l, "data: "))
			}
		}
		return events
	}
	ev := read()
	if len(ev) < 3 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("events %v", ev)
	}
	e.fake.SetMode(fakeopenai.DropMidway)
	ev = read()
	if len(ev) < 2 || ev[len(ev)-1] != "[DONE]" || !strings.Contains(ev[len(ev)-2], `"error"`) {
		t.Fatalf("mid-stream failure events %v", ev)
	}
}

func TestClientDisconnectCancelsProvider(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	e.fake.SetMode(fakeopenai.Hang)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.client(e.apiKey(e.members["acme"], true)).CreateChatCompletion(ctx, openai.ChatCompletionRequest{
			Model: a.Model, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for e.fake.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for e.fake.Cancelled() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.fake.Cancelled() != 1 {
		t.Fatal("the provider request was not cancelled when the client went away")
	}
}

func TestIsolationAndKeyScopes(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	mine := e.assistant(e.members["acme"], service.AssistantInput{Name: "Mine"})
	adminOwned := e.assistant(e.admins["acme"], service.AssistantInput{Name: "Admin's"})
	other := e.assistant(e.members["beta"], service.AssistantInput{Name: "Beta's"})
	personal := e.apiKey(e.members["acme"], true)
	orgKey := e.apiKey(e.admins["acme"], false)
	body := func(id string) string { return `{"model":"` + id + `","messages":[{"role":"user","content":"hi"}]}` }

	cases := []struct {
		name, key, model string
		status           int
		code             string
	}{
		{"personal key, own assistant", personal, mine.Model, 200, ""},
		{"personal key, bare id", personal, itoa(mine.ID), 200, ""},
		{"personal key, colleague's assistant", personal, adminOwned.Model, 404, "model_not_found"},
		{"org key, any assistant of the org", orgKey, adminOwned.Model, 200, ""},
		{"org key, another org's assistant", orgKey, other.Model, 404, "model_not_found"},
		{"org key, no such assistant", orgKey, "lamb_assistant.99999", 404, "model_not_found"},
		{"no key", "", mine.Model, 401, "invalid_api_key"},
		{"unknown key", "lamb_" + strings.Repeat("x", 43), mine.Model, 401, "invalid_api_key"},
	}
	for _, c := range cases {
		resp, b := e.post(c.key, body(c.model))
		if resp.StatusCode != c.status || errCode(b) != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, resp.StatusCode, b, c.status, c.code)
		}
	}
	// Another org's assistant answers exactly like a missing one.
	_, b1 := e.post(orgKey, body(other.Model))
	_, b2 := e.post(orgKey, body("lamb_assistant.99999"))
	m1 := b1["error"].(map[string]any)["message"].(string)
	m2 := b2["error"].(map[string]any)["message"].(string)
	if strings.ReplaceAll(m1, other.Model, "X") != strings.ReplaceAll(m2, "lamb_assistant.99999", "X") {
		t.Errorf("messages differ: %q vs %q", m1, m2)
	}

	// /v1/models lists what each key may call.
	ids := func(key string) []string {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Object string `json:"object"`
			Data   []struct {
				ID      string `json:"id"`
				OwnedBy string `json:"owned_by"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Object != "list" {
			t.Fatalf("GET /v1/models: %d %v %+v", resp.StatusCode, err, out)
		}
		var ids []string
		for _, d := range out.Data {
			if d.OwnedBy != "acme" {
				t.Errorf("model %s owned by %q", d.ID, d.OwnedBy)
			}
			ids = append(ids, d.ID)
		}
		return ids
	}
	if got := ids(personal); len(got) != 1 || got[0] != mine.Model {
		t.Errorf("personal key models %v", got)
	}
	if got := ids(orgKey); len(got) != 2 {
		t.Errorf("org key models %v", got)
	}

	// Disabled assistant → 404; revoked key and suspended org → 401.
	if err := e.svc.SetMyAssistantEnabled(ctx, e.members["acme"], mine.ID, false); err != nil {
		t.Fatal(err)
	}
	e.expireCaches()
	if resp, b := e.post(personal, body(mine.Model)); resp.StatusCode != 404 || errCode(b) != "model_not_found" {
		t.Errorf("disabled assistant: %d %v", resp.StatusCode, b)
	}
	keys, _ := e.svc.ListAPIKeys(ctx, e.admins["acme"], "acme", false, 0, 10)
	for _, k := range keys.Items {
		if k.Owner == "" {
			e.svc.RevokeAPIKey(ctx, e.admins["acme"], k.ID)
		}
	}
	e.expireCaches()
	if resp, b := e.post(orgKey, body(adminOwned.Model)); resp.StatusCode != 401 || errCode(b) != "invalid_api_key" {
		t.Errorf("revoked key: %d %v", resp.StatusCode, b)
	}
	betaKey := e.apiKey(e.admins["beta"], false)
	if _, err := e.svc.SetOrgSuspended(ctx, e.root, "beta", true); err != nil {
		t.Fatal(err)
	}
	e.expireCaches()
	if resp, b := e.post(betaKey, body(other.Model)); resp.StatusCode != 401 || errCode(b) != "invalid_api_key" {
		t.Errorf("suspended org: %d %v", resp.StatusCode, b)
	}
}

func TestExpiredKey(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	k, err := e.svc.CreateAPIKey(context.Background(), e.members["acme"], "", "short", true, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.setNow(time.Now().Add(2 * time.Hour))
	if resp, b := e.post(k.Key, `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 401 || errCode(b) != "invalid_api_key" {
		t.Fatalf("expired key: %d %v", resp.StatusCode, b)
	}
}

func TestProviderFailures(t *testing.T) {
	e := newGwEnv(t, 300*time.Millisecond)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`

	// Callers are told what they can act on, never where the org's
	// provider lives (an internal address) nor its key.
	internal := strings.TrimPrefix(e.fakeSrv.URL, "http://")
	message := func(b map[string]any) string {
		em, _ := b["error"].(map[string]any)
		msg, _ := em["message"].(string)
		if strings.Contains(msg, internal) || strings.Contains(msg, "sk-org-key") {
			t.Errorf("a caller was shown the provider's address or key: %q", msg)
		}
		return msg
	}
	e.fake.SetMode(fakeopenai.ServerError)
	if resp, b := e.post(key, body); resp.StatusCode != 502 || message(b) == "" {
		t.Errorf("provider 500: %d %v", resp.StatusCode, b)
	}
	e.fake.SetMode(fakeopenai.Unauthorized)
	resp, b := e.post(key, body)
	if msg := message(b); resp.StatusCode != 502 || !strings.Contains(msg, "credentials") {
		t.Errorf("provider 401: %d %v", resp.StatusCode, b)
	}
	e.fake.SetMode(fakeopenai.OK)
	e.fake.SetDelay(2*time.Second, 0)
	if resp, b := e.post(key, body); resp.StatusCode != 504 || errCode(b) != "provider_timeout" || message(b) == "" {
		t.Errorf("slow provider: %d %v", resp.StatusCode, b)
	}
	e.fakeSrv.Close() // provider down
	if resp, b := e.post(key, body); resp.StatusCode != 502 || message(b) == "" {
		t.Errorf("provider down: %d %v", resp.StatusCode, b)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
