package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/config"
	"lamb/service"
)

func (e *gwEnv) setLimits(slug string, l config.Limits) {
	e.t.Helper()
	if err := e.svc.SetLimits(context.Background(), e.admins[slug], slug, l); err != nil {
		e.t.Fatal(err)
	}
	e.expireCaches() // the gateway reads configs through a one-second cache
}

func unlimited() config.Limits { return config.UnlimitedLimits() }

func TestRequestsPerMinute(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.RequestsPerMinute = 3
	e.setLimits("acme", l)
	// Pin the clock inside one minute.
	base := time.Now().Truncate(time.Minute).Add(10 * time.Second)
	e.setNow(base)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	for i := range 3 {
		if resp, b := e.post(key, body); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %v", i+1, resp.StatusCode, b)
		}
	}
	resp, b := e.post(key, body)
	if resp.StatusCode != 429 || errCode(b) != "rate_limit_exceeded" {
		t.Fatalf("4th request in a minute: %d %v", resp.StatusCode, b)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	// Another org is not affected.
	other := e.assistant(e.members["beta"], service.AssistantInput{})
	if resp, b := e.post(e.apiKey(e.members["beta"], true), `{"model":"`+other.Model+`","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("other org: %d %v", resp.StatusCode, b)
	}
	// The next minute admits again.
	e.setNow(base.Add(time.Minute))
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("next minute: %d %v", resp.StatusCode, b)
	}
}

// 100 concurrent requests against a budget that admits only a few: the
// reservations taken before the calls keep the total within the budget.
// The provider holds every answer until all requests were admitted or
// refused, so exactly as many are admitted as the budget holds
// reservations; then, with the provider spending every max_tokens, the
// org never spends more than the budget.
func TestTokenBudgetUnderConcurrency(t *testing.T) {
	e := newGwEnv(t, 10*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 1000
	e.setLimits("acme", l)
	body := `{"model":"` + a.Model + `","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	reservation := int64(len(body)+3)/4 + 100 // the body at four characters a token, plus max_tokens
	e.fake.Hold()
	e.fake.SetUsage(int(reservation-100), 100) // the answers spend what they reserved

	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b := e.post(key, body)
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
			if resp.StatusCode == 429 && errCode(b) != "insufficient_quota" {
				t.Errorf("429 code %q", errCode(b))
			}
		}()
	}
	// Wait until every request was either refused or is held at the provider.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		refused := codes[429]
		mu.Unlock()
		if int64(refused)+e.fake.Requests() == 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	want := 1000 / reservation
	if got := e.fake.Requests(); got != want {
		e.fake.Release()
		wg.Wait()
		t.Fatalf("%d requests reached the provider while all were in flight, want exactly %d (1000 / %d)", got, want, reservation)
	}
	e.fake.Release()
	wg.Wait()
	if codes[200] != int(want) || codes[429] != 100-int(want) {
		t.Fatalf("answers %v: want %d 200s and the rest 429", codes, want)
	}
	// Settled with what they really spent, they leave nothing for another.
	if resp, b := e.post(key, body); resp.StatusCode != 429 {
		t.Fatalf("after the budget was spent: %d %v", resp.StatusCode, b)
	}
	e.svc.Close()
	if used := e.tokensThisMonth("acme"); used > 1000 {
		t.Fatalf("org used %d tokens of a 1000 budget", used)
	}
}

func (e *gwEnv) tokensThisMonth(slug string) int64 {
	e.t.Helper()
	d, err := e.svc.Dashboard(context.Background(), e.admins[slug], slug)
	if err != nil {
		e.t.Fatal(err)
	}
	return d.TokensThisMonth
}

func TestMonthRollover(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.UserTokensPerMonth = 150 // the owner's budget: one request of max_tokens 100
	e.setLimits("acme", l)
	endOfMonth := time.Date(2031, 1, 31, 23, 59, 0, 0, time.UTC)
	e.setNow(endOfMonth)
	body := `{"model":"` + a.Model + `","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %v", resp.StatusCode, b)
	}
	// The real usage was small, but a second reservation doesn't fit with
	// the first one's usage... so force it: spend the budget.
	for i := 0; i < 20; i++ {
		resp, b := e.post(key, body)
		if resp.StatusCode == 429 {
			if errCode(b) != "insufficient_quota" {
				t.Fatalf("code %q", errCode(b))
			}
			ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			if ra < 1 || ra > 61 {
				t.Fatalf("Retry-After %d s; the month ends in 60 s", ra)
			}
			break
		}
		if i == 19 {
			t.Fatal("the owner's monthly budget never ran out")
		}
	}
	// February: a fresh budget, without any job having run.
	e.setNow(endOfMonth.Add(2 * time.Minute))
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("after the month turned: %d %v", resp.StatusCode, b)
	}
}

// One usage row per request that reached an org, successes and failures.
func TestUsageRowPerRequest(t *testing.T) {
	e := newGwEnv(t, 300*time.Millisecond)
	ctx := context.Background()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	e.post(key, body)                                                                           // ok
	e.post(key, `{"model":"lamb_assistant.424242","messages":[{"role":"user","content":"x"}]}`) // 404
	// A stream, read to its end (closing it early would be a client leaving).
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+a.Model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	e.fake.SetMode(1)                          // ServerError
	e.post(key, body)                          // 502
	e.post(key, `{"model":`)                   // malformed: 400, still the org's request
	e.post(key, `{"model":"x","messages":[]}`) // no messages: 400
	e.svc.Close()
	org, err := e.st.OrgBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.st.CountUsageEvents(ctx, org.ID)
	if err != nil || n != 6 {
		t.Fatalf("usage rows = %d, %v; want 6", n, err)
	}
	r, err := e.svc.Usage(ctx, e.admins["acme"], service.UsageQuery{Org: "acme", From: time.Now().AddDate(0, 0, -1), By: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total.Requests != 6 || r.Total.Errors != 4 || r.Total.Tokens == 0 {
		t.Fatalf("usage report %+v", r.Total)
	}
	_ = http.StatusOK
}

func TestMetrics(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	metricsSrv := httptest.NewServer(NewHandler(e.svc, slog.New(slog.DiscardHandler), Options{Metrics: true}))
	defer metricsSrv.Close()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	e.post(key, `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"}]}`)
	e.post(key, `{"model":"lamb_assistant.777777","messages":[{"role":"user","content":"hi"}]}`)
	resp, err := http.Get(metricsSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`lamb_completion_requests_total{status="ok"} 1`, `lamb_completion_requests_total{status="model_not_found"} 1`,
		`lamb_completion_tokens_total{kind="completion"} 3`, "lamb_database_up 1", "lamb_provider_latency_seconds_count 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`(?m)^lamb_database_statements_total [1-9][0-9]*$`).Match(body) {
		t.Errorf("metrics lack a count of database statements:\n%s", body)
	}
	// The runtime's view of the latency tail: CPU waits and GC pauses.
	for _, re := range []string{`(?m)^go_sched_latencies_seconds_bucket\{le="0\.001"\} \d+$`, `(?m)^go_sched_latencies_seconds_count [1-9]`,
		`(?m)^go_gc_pauses_seconds_bucket\{le="\+Inf"\} \d+$`, `(?m)^go_goroutines [1-9]`, `(?m)^go_heap_objects_bytes [1-9]`} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("metrics lack %s:\n%s", re, body)
		}
	}
	// Off by default.
	if resp, _ := http.Get(e.srv.URL + "/metrics"); resp.StatusCode != 404 {
		t.Errorf("/metrics served without LAMB_METRICS: %d", resp.StatusCode)
	}
}
