package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/config"
	"lamb/service"
)

// alertsGwEnv is a gateway whose acme has a budget of 1,000,000 tokens a
// month with alerts at 10 and 50 %, its webhook at hook, each completion
// costing 20,000 tokens, and the alerts' checker running until the test ends.
func alertsGwEnv(t *testing.T, hook string) (*gwEnv, string, string) {
	t.Helper()
	e := newGwEnvDeps(t, 5*time.Second, 0, func(d *service.Deps) {
		d.Alerts = service.AlertOptions{AllowPrivate: true, Scan: time.Hour, Gap: time.Millisecond,
			Attempts: 2, Backoff: time.Millisecond, Timeout: time.Minute}
	})
	e.fake.SetUsage(10_000, 10_000)
	ctx := context.Background()
	admin := e.admins["acme"]
	if _, err := e.svc.UpdateLimits(ctx, admin, "acme", func(l *config.Limits) { l.TokensPerMonth = 1_000_000 }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetAlerts(ctx, admin, "acme", service.AlertsInput{Thresholds: &[]int{10, 50}, WebhookURL: &hook}); err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.svc.RunBudgetAlerts(run); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	return e, e.apiKey(e.members["acme"], true), a.Model
}

func (e *gwEnv) complete(t *testing.T, key, model string) {
	t.Helper()
	resp, body := e.post(key, `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("completion answered %d: %v", resp.StatusCode, body)
	}
}

// A webhook receiver that hangs holds the alert's delivery; completions
// go on being answered meanwhile: none of them waits on it.
func TestCompletionsDoNotWaitForAHangingAlertWebhook(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		once.Do(func() { close(arrived) })
		select { // hangs until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hook.Close)
	t.Cleanup(func() { close(release) }) // runs first: the receiver lets go, then closes
	e, key, model := alertsGwEnv(t, hook.URL+"/hook")

	// 5 completions (100,000 tokens) cross 10 %; the alert reaches the
	// receiver soon after their usage is stored.
	for range 5 {
		e.complete(t, key, model)
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the alert never reached the webhook")
	}
	// The receiver holds the delivery; completions are answered, one
	// after the other and several at once.
	for range 10 {
		e.complete(t, key, model)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { e.complete(t, key, model) })
	}
	wg.Wait()
	select {
	case <-release:
		t.Fatal("the receiver was released before the completions ended")
	default:
	}
	v, err := e.svc.BudgetAlerts(context.Background(), e.admins["acme"], "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Alerts) == 0 || v.Alerts[0].Threshold != 10 || v.Alerts[0].Webhook != "" {
		t.Fatalf("alerts = %+v, want the 10 %% crossing with its delivery still pending", v.Alerts)
	}
}

// A webhook that is down: completions are answered, the delivery is
// retried a bounded number of times, and /metrics counts both.
func TestCompletionsUnaffectedByADownAlertWebhook(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL + "/hook"
	down.Close() // connection refused from here on
	e, key, model := alertsGwEnv(t, url)
	for range 30 { // 600,000 tokens: past 10 % and 50 %
		e.complete(t, key, model)
	}
	var v service.AlertsView
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		v, err = e.svc.BudgetAlerts(context.Background(), e.admins["acme"], "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Alerts) == 2 && v.Alerts[0].Webhook != "" && v.Alerts[1].Webhook != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts = %+v", v.Alerts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, a := range v.Alerts {
		if !strings.HasPrefix(a.Webhook, "failed after 2 tries") {
			t.Errorf("alert %d %%: webhook %q", a.Threshold, a.Webhook)
		}
	}
	metrics := httptest.NewServer(NewHandler(e.svc, slog.New(slog.DiscardHandler), Options{Metrics: true}))
	defer metrics.Close()
	resp, err := http.Get(metrics.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`lamb_budget_alerts_total{scope="org"} 2`, `lamb_budget_alerts_total{scope="user"} 0`,
		`lamb_budget_alert_webhooks_total{result="failed"} 2`, `lamb_budget_alert_webhooks_total{result="dropped"} 0`,
		"lamb_budget_alert_webhook_queue 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
