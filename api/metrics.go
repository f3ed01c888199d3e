package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"lamb/service"
)

// metrics is GET /metrics in the Prometheus text format (LAMB_METRICS).
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	st := h.svc.GatewayStats()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("lamb_completion_requests_total", "counter", "Completion requests by outcome (ok or the error code).")
	statuses := make([]string, 0, len(st.Requests))
	for s := range st.Requests {
		statuses = append(statuses, s)
	}
	sort.Strings(statuses)
	for _, s := range statuses {
		fmt.Fprintf(&b, "lamb_completion_requests_total{status=%q} %d\n", s, st.Requests[s])
	}
	metric("lamb_completion_tokens_total", "counter", "Tokens of answered completions.")
	fmt.Fprintf(&b, "lamb_completion_tokens_total{kind=\"prompt\"} %d\n", st.PromptTokens)
	fmt.Fprintf(&b, "lamb_completion_tokens_total{kind=\"completion\"} %d\n", st.CompletionTokens)
	metric("lamb_provider_latency_seconds", "summary", "Time from routing to the provider's last byte.")
	fmt.Fprintf(&b, "lamb_provider_latency_seconds_sum %g\nlamb_provider_latency_seconds_count %d\n", st.ProviderLatency.Seconds(), st.ProviderCalls)
	metric("lamb_usage_queue_events", "gauge", "Usage events waiting to be written.")
	fmt.Fprintf(&b, "lamb_usage_queue_events %d\n", st.UsageQueue)
	failing := 0
	if st.UsageFailing {
		failing = 1
	}
	metric("lamb_usage_write_failing", "gauge", "1 while usage events can't be stored (they are kept and retried).")
	fmt.Fprintf(&b, "lamb_usage_write_failing %d\n", failing)
	metric("lamb_usage_refusals_not_kept_total", "counter", "Refused requests counted only here: the usage queue was too long to keep them.")
	fmt.Fprintf(&b, "lamb_usage_refusals_not_kept_total %d\n", st.RefusalsNotKept)
	metric("lamb_database_statements_total", "counter", "Statements sent to the database, by the gateway and everything else.")
	fmt.Fprintf(&b, "lamb_database_statements_total %d\n", st.DatabaseStatements)
	al := h.svc.AlertStats()
	metric("lamb_budget_alerts_total", "counter", "Budget alert thresholds crossed and announced by this process, by scope (org or user budget).")
	for _, scope := range []string{service.ScopeOrg, service.ScopeUser} {
		fmt.Fprintf(&b, "lamb_budget_alerts_total{scope=%q} %d\n", scope, al.Fired[scope])
	}
	metric("lamb_budget_alert_webhooks_total", "counter", "Budget alert webhook deliveries by result (delivered, failed after retries, dropped: queue full).")
	for _, result := range []string{"delivered", "failed", "dropped"} {
		fmt.Fprintf(&b, "lamb_budget_alert_webhooks_total{result=%q} %d\n", result, al.Webhooks[result])
	}
	metric("lamb_budget_alert_webhook_queue", "gauge", "Budget alert webhook deliveries waiting to be sent.")
	fmt.Fprintf(&b, "lamb_budget_alert_webhook_queue %d\n", al.Queue)
	healthy := 1
	if err := h.svc.Healthy(r.Context()); errors.Is(err, service.ErrDatabaseDown) {
		healthy = 0
	}
	metric("lamb_database_up", "gauge", "1 when the database answers.")
	fmt.Fprintf(&b, "lamb_database_up %d\n", healthy)
	writeRuntimeMetrics(&b, metric)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}
