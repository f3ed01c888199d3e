package api

import (
	"strings"
	"testing"
	"time"

	"lamb/service"
)

// With 300 of 700 tokens left, a request without max_tokens (which
// reserves 1024) was refused as "used up" while the dashboard said 57 %.
// It is admitted with what is left; a request whose max_tokens can't fit
// is told what it may need, what is left, and that max_tokens helps.
func TestRequestWithoutMaxTokensUsesWhatIsLeft(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 700
	e.setLimits("acme", l)
	e.fake.SetUsage(100, 300)
	if resp, b := e.post(key, `{"model":"`+a.Model+`","max_tokens":300,"messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("first: %d %v", resp.StatusCode, b)
	}
	resp, b := e.post(key, `{"model":"`+a.Model+`","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`)
	em, _ := b["error"].(map[string]any)
	msg, _ := em["message"].(string)
	if resp.StatusCode != 429 || !strings.Contains(msg, "300 left") || !strings.Contains(msg, "max_tokens") || !strings.Contains(msg, "may need up to") {
		t.Fatalf("max_tokens 500 with 300 left: %d %q", resp.StatusCode, msg)
	}
	e.fake.SetUsage(20, 40)
	if resp, b := e.post(key, `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("no max_tokens with 300 left: %d %v", resp.StatusCode, b)
	}
}

// requests_per_minute once counted calendar minutes: 3 requests at :58 and
// 3 more at :02 all passed a limit of 3. It is a sliding window of 60 s.
func TestRequestsPerMinuteIsASlidingWindow(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.RequestsPerMinute = 3
	e.setLimits("acme", l)
	base := time.Now().Truncate(time.Minute).Add(time.Minute + 58*time.Second)
	e.setNow(base)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	for i := range 3 {
		if resp, b := e.post(key, body); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, b)
		}
	}
	e.setNow(base.Add(4 * time.Second)) // the next calendar minute, same 60 s
	resp, b := e.post(key, body)
	if resp.StatusCode != 429 || errCode(b) != "rate_limit_exceeded" || resp.Header.Get("Retry-After") != "56" {
		t.Fatalf("4th request within 60 s: %d %v Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	e.setNow(base.Add(60 * time.Second))
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("60 s later: %d %v", resp.StatusCode, b)
	}
}
