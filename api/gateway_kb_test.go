package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/internal/fakekb"
	"lamb/service"
)

// kbFake is a fake knowledge base on loopback.
type kbFake struct {
	*fakekb.Server
	srv *httptest.Server
}

// withKB gives an org's default setup its own fake knowledge base,
// holding collections "1" and "2".
func (e *gwEnv) withKB(slug, token string) *kbFake {
	e.t.Helper()
	kb := &kbFake{Server: fakekb.New(token)}
	kb.srv = httptest.NewServer(kb)
	e.t.Cleanup(kb.srv.Close)
	kb.AddCollection("1", "Syllabus",
		fakekb.Chunk{Similarity: 0.9, Data: "Entropy measures disorder.", Metadata: map[string]any{"filename": "thermo.pdf", "file_url": "/static/thermo.pdf"}},
		fakekb.Chunk{Similarity: 0.5, Data: "Heat flows from hot to cold.", Metadata: map[string]any{"title": "Notes"}})
	kb.AddCollection("2", "Readings",
		fakekb.Chunk{Similarity: 0.7, Data: "Boltzmann wrote S = k log W.", Metadata: map[string]any{"source_url": "https://en.example.org/Boltzmann"}})
	tok := token
	if err := e.svc.UpdateKnowledgeBase(context.Background(), e.admins[slug], slug, "default", kb.srv.URL, &tok); err != nil {
		e.t.Fatal(err)
	}
	return kb
}

func kbAssistant(onError string) service.AssistantInput {
	return service.AssistantInput{SystemPrompt: "You are a physics tutor.",
		KnowledgeBase:  &service.AssistantKB{Collections: []string{"1", "2"}, TopK: 2, Threshold: 0.1, OnError: onError},
		PromptTemplate: "CONTEXT:\n{context}\nQUESTION: {user_input}"}
}

const question = `{"role":"user","content":"What is entropy?"}`

func lambSources(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	lamb, ok := body["lamb"].(map[string]any)
	if !ok {
		t.Fatalf("no lamb object in %v", body)
	}
	var out []map[string]any
	for _, s := range lamb["sources"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

// The context found reaches the provider placed by the template, in the
// last user message, after the system prompt; the answer is the
// provider's, byte for byte, with the sources added.
func TestKBContextReachesProvider(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	kb := e.withKB("acme", "kb-token-acme")
	a := e.assistant(e.members["acme"], kbAssistant(""))
	key := e.apiKey(e.members["acme"], true)
	providerAnswer := `{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"It is disorder."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12},"x_vendor":{"a":1}}`
	e.fake.SetAnswer([]byte(providerAnswer))

	resp := e.postRaw(key, `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},`+question+`]}`)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	want := strings.TrimSuffix(providerAnswer, "}") + `,"lamb":{"sources":[` +
		`{"collection":"1","similarity":0.9,"title":"thermo.pdf","url":"` + kb.srv.URL + `/static/thermo.pdf"},` +
		`{"collection":"2","similarity":0.7,"url":"https://en.example.org/Boltzmann"}]}}`
	if string(raw) != want {
		t.Errorf("answer\n got %s\nwant %s", raw, want)
	}
	msgs := e.fake.Last().Messages
	if len(msgs) != 4 || msgs[0]["role"] != "system" || msgs[0]["content"] != "You are a physics tutor." {
		t.Fatalf("provider got %v", msgs)
	}
	wantPrompt := "CONTEXT:\nEntropy measures disorder.\n\nBoltzmann wrote S = k log W.\nQUESTION: What is entropy?"
	if msgs[3]["content"] != wantPrompt || msgs[1]["content"] != "hi" {
		t.Errorf("provider got %q, want %q", msgs[3]["content"], wantPrompt)
	}
	qs := kb.Queries()
	if len(qs) != 2 {
		t.Fatalf("%d queries, want one per collection", len(qs))
	}
	for _, q := range qs {
		if q.Token != "kb-token-acme" || q.QueryText != "What is entropy?" || q.TopK != 2 || q.Threshold != 0.1 || q.PluginParams == nil {
			t.Errorf("query %+v", q)
		}
	}
	e.svc.Close() // flush usage: the event records the retrieval
	if n := e.count(e.rawDB(), `SELECT COUNT(*) FROM usage_events WHERE status = 'ok' AND kb_chunks = 2 AND kb_ms IS NOT NULL`); n != 1 {
		t.Errorf("%d usage events record the retrieval, want 1", n)
	}
}

// Content parts: the question is the text parts; the image stays.
func TestKBContentParts(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	kb := e.withKB("acme", "kb-token-acme")
	a := e.assistant(e.members["acme"], kbAssistant(""))
	key := e.apiKey(e.members["acme"], true)
	resp, body := e.post(key, `{"model":"`+a.Model+`","messages":[{"role":"user","content":[{"type":"text","text":"What is"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"entropy?"}]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if q := kb.Queries(); len(q) == 0 || q[0].QueryText != "What is\nentropy?" {
		t.Errorf("queries %+v", q)
	}
	parts, _ := e.fake.Last().Messages[1]["content"].([]any)
	if len(parts) != 2 || !strings.Contains(parts[0].(map[string]any)["text"].(string), "Entropy measures disorder.") ||
		parts[1].(map[string]any)["type"] != "image_url" {
		t.Errorf("provider got %v", e.fake.Last().Messages)
	}
}

// Both collections are queried at once: the retrieval takes about one
// delay, not two, and each query arrives before the other is answered.
func TestKBQueriesCollectionsInParallel(t *testing.T) {
	e := newGwEnv(t, 10*time.Second)
	kb := e.withKB("acme", "kb-token-acme")
	const delay = 400 * time.Millisecond
	kb.SetDelay(delay)
	a := e.assistant(e.members["acme"], kbAssistant(""))
	key := e.apiKey(e.members["acme"], true)
	started := time.Now()
	resp, body := e.post(key, `{"model":"`+a.Model+`","messages":[`+question+`]}`)
	took := time.Since(started)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	qs := kb.Queries()
	if len(qs) != 2 {
		t.Fatalf("%d queries", len(qs))
	}
	if gap := qs[1].At.Sub(qs[0].At); gap >= delay {
		t.Errorf("the second query came %v after the first: they ran one after the other", gap)
	}
	if took >= 2*delay { // generous: one delay plus overhead
		t.Errorf("retrieval took %v, about two delays of %v: not parallel", took, delay)
	}
}

// Org B's assistant uses B's knowledge base and token, never A's; the
// environment's knowledge base (org lamb's) serves lamb alone.
func TestKBOnlyTheOwningOrgs(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	kbEnv := &kbFake{Server: fakekb.New("env-token")}
	kbEnv.srv = httptest.NewServer(kbEnv)
	defer kbEnv.srv.Close()
	envURL, envTok := kbEnv.srv.URL, "env-token"
	if _, err := e.svc.SyncSystemOrg(context.Background(), service.SystemActor(), config.System{KBServer: &envURL, KBToken: &envTok}); err != nil {
		t.Fatal(err)
	}
	kbA := e.withKB("acme", "kb-token-acme")
	kbB := e.withKB("beta", "kb-token-beta")
	b := e.assistant(e.members["beta"], kbAssistant(""))
	if resp, body := e.post(e.apiKey(e.members["beta"], true), `{"model":"`+b.Model+`","messages":[`+question+`]}`); resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if len(kbA.Queries()) != 0 || len(kbEnv.Queries()) != 0 {
		t.Errorf("beta's assistant reached another knowledge base: acme %d, env %d", len(kbA.Queries()), len(kbEnv.Queries()))
	}
	for _, q := range kbB.Queries() {
		if q.Token != "kb-token-beta" {
			t.Errorf("beta's knowledge base got token %q", q.Token)
		}
	}
	if len(kbB.Queries()) != 2 {
		t.Errorf("beta's knowledge base got %d queries", len(kbB.Queries()))
	}
}

// A knowledge base that fails in any way answers 502 naming the setting
// (never its URL or token); the provider is not called; usage records
// kb_error.
func TestKBFailureAnswers502WithoutCallingTheProvider(t *testing.T) {
	e := newGwEnvKB(t, 5*time.Second, 300*time.Millisecond)
	kb := e.withKB("acme", "kb-token-acme")
	a := e.assistant(e.members["acme"], kbAssistant(""))
	key := e.apiKey(e.members["acme"], true)
	body := `{"model":"` + a.Model + `","messages":[` + question + `]}`
	check := func(name string) {
		t.Helper()
		before := e.fake.Requests()
		resp := e.postRaw(key, body)
		raw := string(readAll(t, resp))
		var out map[string]any
		json.Unmarshal([]byte(raw), &out)
		if resp.StatusCode != 502 || errCode(out) != "knowledge_base_unavailable" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, raw)
		}
		if !strings.Contains(raw, "setups.default.knowledge_base") || strings.Contains(raw, "kb-token-acme") ||
			strings.Contains(raw, strings.TrimPrefix(kb.srv.URL, "http://")) {
			t.Errorf("%s: message %s", name, raw)
		}
		if e.fake.Requests() != before {
			t.Errorf("%s: the provider was called", name)
		}
	}
	kb.SetMode(fakekb.ServerError)
	check("500")
	kb.SetMode(fakekb.Malformed)
	check("malformed")
	kb.SetMode(fakekb.Hang)
	check("timeout")
	kb.SetMode(fakekb.OK)
	kb.srv.Close()
	check("unreachable")

	e.svc.Close() // flush usage
	if n := e.count(e.rawDB(), `SELECT COUNT(*) FROM usage_events WHERE status = 'kb_error' AND http_status = 502 AND kb_chunks = 0 AND kb_ms IS NOT NULL`); n != 4 {
		t.Errorf("%d kb_error usage events, want 4", n)
	}
}

// on_error continue: the answer comes without context, and says so.
func TestKBContinueAnswersWithoutContext(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	kb := e.withKB("acme", "kb-token-acme")
	kb.SetMode(fakekb.ServerError)
	a := e.assistant(e.members["acme"], kbAssistant(service.KBContinue))
	key := e.apiKey(e.members["acme"], true)
	resp, body := e.post(key, `{"model":"`+a.Model+`","messages":[`+question+`]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Lamb-KB") != "unavailable" {
		t.Fatalf("%d %q %v", resp.StatusCode, resp.Header.Get("X-Lamb-KB"), body)
	}
	if got := e.fake.Last().Messages[1]["content"]; got != "What is entropy?" {
		t.Errorf("provider got %q, want the question alone", got)
	}
	if s := lambSources(t, body); len(s) != 0 {
		t.Errorf("sources %v", s)
	}
	// A knowledge base that answers: no header.
	kb.SetMode(fakekb.OK)
	if resp, _ := e.post(key, `{"model":"`+a.Model+`","messages":[`+question+`]}`); resp.Header.Get("X-Lamb-KB") != "" {
		t.Errorf("X-Lamb-KB %q on success", resp.Header.Get("X-Lamb-KB"))
	}
}

// Streaming: the context reaches the provider, and the last event before
// [DONE] carries the sources.
func TestKBStreamingEndsWithSources(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	e.withKB("acme", "kb-token-acme")
	a := e.assistant(e.members["acme"], kbAssistant(""))
	key := e.apiKey(e.members["acme"], true)
	resp := e.postRaw(key, `{"model":"`+a.Model+`","stream":true,"messages":[`+question+`]}`)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, d)
		}
	}
	if len(events) < 3 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %v", events)
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(events[len(events)-2]), &last); err != nil {
		t.Fatal(err)
	}
	if s := lambSources(t, last); len(s) != 2 || s[0]["collection"] != "1" || s[1]["collection"] != "2" {
		t.Errorf("sources %v", s)
	}
	if got, _ := e.fake.Last().Messages[1]["content"].(string); !strings.Contains(got, "Entropy measures disorder.") {
		t.Errorf("provider got %q", got)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewReader(resp.Body)
	if _, err := sc.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// The environment's knowledge base is org lamb's: lamb's assistants use
// it with the environment's token.
func TestKBEnvironmentServesLamb(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	kbEnv := &kbFake{Server: fakekb.New("env-token")}
	kbEnv.srv = httptest.NewServer(kbEnv)
	defer kbEnv.srv.Close()
	kbEnv.AddCollection("1", "Handbook", fakekb.Chunk{Similarity: 0.9, Data: "Office hours are on Monday."})
	envURL, envTok := kbEnv.srv.URL, "env-token"
	if _, err := e.svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{KBServer: &envURL, KBToken: &envTok}); err != nil {
		t.Fatal(err)
	}
	key := "sk-org-key-0123456789"
	if err := e.svc.UpdateProvider(ctx, e.root, "lamb", "default", "openai", service.ProviderInput{
		Enabled: true, BaseURL: e.fakeSrv.URL + "/v1", APIKey: &key, Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	a := e.assistant(e.root, service.AssistantInput{KnowledgeBase: &service.AssistantKB{Collections: []string{"1"}}})
	resp, body := e.post(e.apiKey(e.root, true), `{"model":"`+a.Model+`","messages":[`+question+`]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if qs := kbEnv.Queries(); len(qs) != 1 || qs[0].Token != "env-token" {
		t.Errorf("environment's knowledge base got %+v", qs)
	}
	if got, _ := e.fake.Last().Messages[0]["content"].(string); !strings.Contains(got, "Office hours are on Monday.") {
		t.Errorf("provider got %q", got)
	}
}

// The context lamb adds counts in the reservation: a request whose own
// text fits the budget is refused when its context doesn't, and the
// provider is not called.
func TestKBContextCountsInTheReservation(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	kb := e.withKB("acme", "kb-token-acme")
	kb.AddCollection("1", "Big", fakekb.Chunk{Similarity: 0.9, Data: strings.Repeat("entropy ", 1000)}) // ~2000 tokens
	a := e.assistant(e.members["acme"], service.AssistantInput{KnowledgeBase: &service.AssistantKB{Collections: []string{"1"}}})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 1000
	e.setLimits("acme", l)
	resp, body := e.post(key, `{"model":"`+a.Model+`","max_tokens":10,"messages":[`+question+`]}`)
	if resp.StatusCode != 429 || errCode(body) != "insufficient_quota" {
		t.Fatalf("%d %v, want the context to exceed the budget", resp.StatusCode, body)
	}
	// Without max_tokens too: the context alone doesn't fit.
	resp, body = e.post(key, `{"model":"`+a.Model+`","messages":[`+question+`]}`)
	if resp.StatusCode != 429 || errCode(body) != "insufficient_quota" {
		t.Fatalf("flexible: %d %v", resp.StatusCode, body)
	}
	if e.fake.Requests() != 0 {
		t.Error("the provider was called")
	}
	// Nothing stays reserved: with the context gone, the request fits.
	kb.AddCollection("1", "Small", fakekb.Chunk{Similarity: 0.9, Data: "Entropy measures disorder."})
	if resp, body := e.post(key, `{"model":"`+a.Model+`","max_tokens":10,"messages":[`+question+`]}`); resp.StatusCode != 200 {
		t.Fatalf("small context: %d %v", resp.StatusCode, body)
	}
}

// A caller past its limits is refused before lamb queries the knowledge
// base: retrieval can't be used to hammer an org's knowledge base.
func TestKBNotQueriedPastTheLimits(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	kb := e.withKB("acme", "kb-token-acme")
	a := e.assistant(e.members["acme"], kbAssistant(""))
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 0
	e.setLimits("acme", l)
	for range 5 {
		if resp, body := e.post(key, `{"model":"`+a.Model+`","messages":[`+question+`]}`); resp.StatusCode != 429 {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
	}
	if n := len(kb.Queries()); n != 0 {
		t.Errorf("%d knowledge-base queries for refused requests", n)
	}
}
