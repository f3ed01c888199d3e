package api

// Regression tests for attacks on the token budgets: each is named after
// the attack it stops.

import (
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/service"
)

// A negative max_tokens once passed admission and, while in flight,
// lowered every concurrent request's reservation; 2^63-1 overflowed the
// sum. Such values are refused with a 400 that names the field, and the
// provider never sees them.
func TestNegativeOrHugeMaxTokensCannotBypassBudget(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 20_000
	e.setLimits("acme", l)
	for _, tc := range []struct{ field, value string }{
		{"max_tokens", "-1000000"},
		{"max_tokens", "0"},
		{"max_tokens", "9223372036854775807"},
		{"max_completion_tokens", "-5"},
		{"max_completion_tokens", "9223372036854775807"},
		{"n", "-3"},
		{"n", "0"},
		{"n", "1000"},
	} {
		body := `{"model":"` + a.Model + `","` + tc.field + `":` + tc.value + `,"messages":[{"role":"user","content":"hi"}]}`
		resp, b := e.post(key, body)
		em, _ := b["error"].(map[string]any)
		msg, _ := em["message"].(string)
		if resp.StatusCode != 400 || !strings.HasPrefix(msg, tc.field+":") {
			t.Errorf("%s=%s: %d %v, want 400 naming the field", tc.field, tc.value, resp.StatusCode, b)
		}
	}
	// 2^64 doesn't fit any integer: a type error, still a 400.
	resp, b := e.post(key, `{"model":"`+a.Model+`","max_tokens":18446744073709551616,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 400 {
		t.Errorf("max_tokens=2^64: %d %v", resp.StatusCode, b)
	}
	if n := e.fake.Requests(); n != 0 {
		t.Fatalf("the provider was called %d times with a refused request", n)
	}
	// Use the budget up, then try the bypass in flight: requests with
	// negative caps alongside normal ones must not let the normal ones in.
	e.fake.SetUsage(10, 19_990)
	if resp, b := e.post(key, `{"model":"`+a.Model+`","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %v", resp.StatusCode, b)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"model":"` + a.Model + `","max_tokens":-1000000,"messages":[{"role":"user","content":"hi"}]}`
			if i%2 == 0 {
				body = `{"model":"` + a.Model + `","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
			}
			if resp, _ := e.post(key, body); resp.StatusCode == 200 {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 0 {
		t.Fatalf("%d requests answered after the budget was used up", admitted)
	}
}

// n: 10 once reserved for one choice and spent 9.6× the budget: every
// choice's max_tokens is reserved.
func TestManyChoicesReserveEveryChoice(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 1000
	e.setLimits("acme", l)
	resp, b := e.post(key, `{"model":"`+a.Model+`","n":10,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 429 || errCode(b) != "insufficient_quota" {
		t.Fatalf("n=10 × 100 tokens against 1000: %d %v, want 429 insufficient_quota", resp.StatusCode, b)
	}
	resp, b = e.post(key, `{"model":"`+a.Model+`","n":2,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("n=2 × 100 tokens against 1000: %d %v", resp.StatusCode, b)
	}
	if got := e.fake.Last(); got.N != 2 || got.MaxTokens != 100 {
		t.Fatalf("provider got n=%d max_tokens=%d, want them passed through", got.N, got.MaxTokens)
	}
}

// A 52 KB tools list once reserved nothing and spent 77× the budget: every
// prompt-bearing field of the body counts in the reservation.
func TestLargeToolsListCountsInReservation(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 5000
	e.setLimits("acme", l)
	desc := strings.Repeat("a long description of a tool parameter ", 1300) // ~52 KB
	body := `{"model":"` + a.Model + `","max_tokens":10,"messages":[{"role":"user","content":"hi"}],` +
		`"tools":[{"type":"function","function":{"name":"lookup","description":"` + desc + `","parameters":{"type":"object"}}}]}`
	resp, b := e.post(key, body)
	if resp.StatusCode != 429 || errCode(b) != "insufficient_quota" {
		t.Fatalf("52 KB of tools against 5000 tokens: %d %v, want 429 insufficient_quota", resp.StatusCode, b)
	}
	// The same request without the tools fits.
	if resp, b := e.post(key, `{"model":"`+a.Model+`","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("without tools: %d %v", resp.StatusCode, b)
	}
}

// A provider (an org admin chooses its URL) reporting negative usage must
// not refund budget.
func TestNegativeProviderUsageDoesNotRefundBudget(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 1000
	e.setLimits("acme", l)
	e.fake.SetUsage(10, 990)
	body := `{"model":"` + a.Model + `","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("first: %d %v", resp.StatusCode, b)
	}
	e.fake.SetUsage(-1_000_000, 1)
	// The budget is used up: this one is refused before the provider.
	if resp, b := e.post(key, body); resp.StatusCode != 429 {
		t.Fatalf("after the budget is spent: %d %v", resp.StatusCode, b)
	}
	// Lift the limit for one call that reports negative usage, then restore.
	e.setLimits("acme", unlimited())
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("negative usage call: %d %v", resp.StatusCode, b)
	}
	e.setLimits("acme", l)
	if resp, b := e.post(key, body); resp.StatusCode != 429 {
		t.Fatalf("negative usage refunded the budget: %d %v", resp.StatusCode, b)
	}
}
