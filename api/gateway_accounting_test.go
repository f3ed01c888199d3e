package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"lamb/internal/fakeopenai"
	"lamb/service"
)

// The reservation counts the assistant's system prompt: a long prompt can't
// slip a crowd of requests past a small budget.
func TestReservationCountsSystemPrompt(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{SystemPrompt: strings.Repeat("physics ", 5000)}) // ~10,000 tokens
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 5000
	e.setLimits("acme", l)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := e.post(key, `{"model":"`+a.Model+`","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
			mu.Lock()
			if resp.StatusCode == 200 {
				ok++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ok != 0 {
		t.Fatalf("%d requests admitted whose system prompt alone exceeds the budget", ok)
	}
}

// A client that leaves mid-stream is charged what the provider produced,
// estimated, not nothing.
func TestDisconnectMidStreamIsCharged(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	e.fake.SetChunks("one ", "two ", "three ", "four ", "five")
	e.fake.SetDelay(0, 200*time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	stream, err := e.client(e.apiKey(e.members["acme"], true)).CreateChatCompletionStream(cctx, openai.ChatCompletionRequest{
		Model: a.Model, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "count"}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // role chunk, "one ", "two "
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	stream.Close()
	deadline := time.Now().Add(5 * time.Second)
	for e.fake.Cancelled() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	e.svc.Close()
	if used := e.tokensThisMonth("acme"); used == 0 {
		t.Fatal("a stream the client left after receiving tokens was recorded as free")
	}
}

// Without usage from the provider the prompt is estimated from the
// messages, whatever max_tokens says.
func TestEstimatedPromptIgnoresMaxTokens(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	e.fake.SetMode(fakeopenai.NoUsage)
	for _, mt := range []string{"50", "4000"} {
		if resp, b := e.post(key, `{"model":"`+a.Model+`","max_tokens":`+mt+`,"messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, b)
		}
	}
	e.svc.Close()
	r, err := e.svc.Usage(context.Background(), e.admins["acme"], service.UsageQuery{Org: "acme", From: time.Now().AddDate(0, 0, -1), By: "day"})
	if err != nil {
		t.Fatal(err)
	}
	// "hi" with its JSON is a few dozen tokens each time; the answer "Hello from the fake provider." about 8.
	if r.Total.PromptTokens < 2 || r.Total.PromptTokens > 60 || r.Total.CompletionTokens < 10 {
		t.Fatalf("estimated usage %+v", r.Total)
	}
}

// Requests refused for quota don't use up the requests-per-minute allowance.
func TestQuotaRefusalsDontCountAsRequests(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	base := time.Now().Truncate(time.Minute).Add(5 * time.Second)
	e.setNow(base)
	l := unlimited()
	l.RequestsPerMinute, l.TokensPerMonth = 2, 0
	e.setLimits("acme", l)
	e.setNow(base.Add(2 * time.Second))
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	for range 3 {
		if resp, b := e.post(key, body); errCode(b) != "insufficient_quota" {
			t.Fatalf("%d %v", resp.StatusCode, b)
		}
	}
	l.TokensPerMonth = -1
	e.setLimits("acme", l)
	e.setNow(base.Add(4 * time.Second))
	if resp, b := e.post(key, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("first admitted request of the minute: %d %v", resp.StatusCode, b)
	}
}

// A caller of another org whose request is cancelled while lamb loads an
// assistant must not leave an error cached for that assistant's own org.
func TestCancelledLoadDoesNotPoisonCache(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	betaCaller, err := e.svc.Authenticate(context.Background(), e.apiKey(e.members["beta"], true))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := service.NewChatRequest([]byte(`{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Chat(cctx, betaCaller, req) // fails, one way or another
	if resp, b := e.post(e.apiKey(e.members["acme"], true), `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("acme's own call after beta's cancelled one: %d %v", resp.StatusCode, b)
	}
}

// Errors about the request body name JSON fields, not Go types, and a
// missing key says it is missing.
func TestGatewayRequestErrorsSpeakJSON(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	key := e.apiKey(e.members["acme"], true)
	resp, b := e.post(key, `{"model":"x","messages":"hi"}`)
	msg, _ := b["error"].(map[string]any)["message"].(string)
	if resp.StatusCode != 400 || !strings.HasPrefix(msg, "messages: must be a list") {
		t.Fatalf("wrong type: %d %q", resp.StatusCode, msg)
	}
	resp, b = e.post("", `{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
	msg, _ = b["error"].(map[string]any)["message"].(string)
	if resp.StatusCode != 401 || errCode(b) != "invalid_api_key" || !strings.Contains(msg, "missing API key") {
		t.Fatalf("no key: %d %v", resp.StatusCode, b)
	}
}
