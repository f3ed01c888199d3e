package service

import (
	"maps"
	"sync"
	"time"
)

// gatewayStats counts what the gateway did, for /metrics.
type gatewayStats struct {
	mu               sync.Mutex
	byStatus         map[string]int64 // ok or an error code → requests
	promptTokens     int64
	completionTokens int64
	latency          time.Duration
	answered         int64 // requests that reached a provider
}

func (g *gatewayStats) add(status string, prompt, completion int64, latency time.Duration, reachedProvider bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byStatus == nil {
		g.byStatus = map[string]int64{}
	}
	g.byStatus[status]++
	g.promptTokens += prompt
	g.completionTokens += completion
	if reachedProvider {
		g.latency += latency
		g.answered++
	}
}

// GatewayStats is a snapshot of the gateway's counters since start.
type GatewayStats struct {
	Requests         map[string]int64 // by status: ok, rate_limit_exceeded, provider_error…
	PromptTokens     int64
	CompletionTokens int64
	ProviderLatency  time.Duration // summed over ProviderCalls
	ProviderCalls    int64
	UsageQueue       int   // usage events not yet stored
	UsageFailing     bool  // the writer can't store events right now
	RefusalsNotKept  int64 // refusals counted here only: the usage queue was too long
	// DatabaseStatements is every statement sent to the database, the
	// gateway's and everyone else's.
	DatabaseStatements int64
}

// GatewayStats returns the gateway's counters.
func (s *Service) GatewayStats() GatewayStats {
	g := &s.stats
	g.mu.Lock()
	defer g.mu.Unlock()
	return GatewayStats{Requests: maps.Clone(g.byStatus), PromptTokens: g.promptTokens, CompletionTokens: g.completionTokens,
		ProviderLatency: g.latency, ProviderCalls: g.answered, UsageQueue: s.usage.pending(),
		UsageFailing: s.usage.healthy() != nil, RefusalsNotKept: s.usage.unrecorded.Load(),
		DatabaseStatements: s.st.Statements()}
}
