package service

import (
	"context"
	"time"

	"lamb/config"
	"lamb/knowledge"
	"lamb/store"
)

// ProviderStatus is one provider of the active setup, as the dashboard
// shows it.
type ProviderStatus struct {
	Name         string         `json:"name"`
	Enabled      bool           `json:"enabled"`
	Configured   bool           `json:"configured"`
	DefaultModel string         `json:"default_model,omitempty"`
	Models       int            `json:"models"`
	LastCheck    *ProviderCheck `json:"last_check,omitempty"`
}

// KBStatus is the knowledge base of the active setup, as the dashboard
// shows it.
type KBStatus struct {
	URL       string         `json:"url"` // without credentials
	HasToken  bool           `json:"has_token"`
	LastCheck *ProviderCheck `json:"last_check,omitempty"`
}

// Dashboard is an org at a glance.
type Dashboard struct {
	Org             Org              `json:"organization"`
	Users           int              `json:"users"`
	EnabledUsers    int              `json:"enabled_users"`
	DisabledUsers   int              `json:"disabled_users"`
	Admins          int              `json:"admins"`
	Assistants      int              `json:"assistants"`
	APIKeys         int              `json:"api_keys"`
	TokensThisMonth int64            `json:"tokens_this_month"`
	TokenLimit      int64            `json:"tokens_per_month_limit"`
	RequestsToday   int64            `json:"requests_today"`
	ActiveSetup     string           `json:"active_setup"`
	Providers       []ProviderStatus `json:"providers"`
	KnowledgeBase   *KBStatus        `json:"knowledge_base,omitempty"` // nil: the active setup has none
	// Alerts are this month's budget alerts, the org's first.
	Alerts []BudgetAlert `json:"alerts"`
}

// dashboardAlerts bounds the budget alerts a dashboard carries.
const dashboardAlerts = 50

// monthStart is the first day of t's calendar month in UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Dashboard returns an org's figures. Usage comes from the daily rollups,
// so it answers quickly however many events there are.
func (s *Service) Dashboard(ctx context.Context, a Actor, slug string) (Dashboard, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return Dashboard{}, err
	}
	counts, err := s.st.CountOrg(ctx, o.ID)
	if err != nil {
		return Dashboard{}, err
	}
	cfg, err := s.openConfig(o)
	if err != nil {
		return Dashboard{}, err
	}
	now := s.now()
	month, err := s.st.SumUsage(ctx, store.UsageFilter{OrganizationID: o.ID, From: store.Day(monthStart(now)), To: store.Day(now)})
	if err != nil {
		return Dashboard{}, err
	}
	today, err := s.st.SumUsage(ctx, store.UsageFilter{OrganizationID: o.ID, From: store.Day(now), To: store.Day(now)})
	if err != nil {
		return Dashboard{}, err
	}
	alerts, err := s.currentAlerts(ctx, o, 0, dashboardAlerts)
	if err != nil {
		return Dashboard{}, err
	}
	d := Dashboard{
		Alerts:          alerts,
		Org:             s.orgView(o, counts.Users, counts.Assistants),
		Users:           counts.Users,
		EnabledUsers:    counts.EnabledUsers,
		DisabledUsers:   counts.Users - counts.EnabledUsers,
		Admins:          counts.Admins,
		Assistants:      counts.Assistants,
		APIKeys:         counts.APIKeys,
		TokensThisMonth: month.Tokens(),
		TokenLimit:      cfg.EffectiveLimits().TokensPerMonth,
		RequestsToday:   today.Requests,
		ActiveSetup:     cfg.ActiveSetup,
	}
	if st, ok := cfg.Setup(""); ok {
		for _, name := range config.Providers {
			p := st.Providers[name]
			if p == nil {
				continue
			}
			ps := ProviderStatus{Name: name, Enabled: p.Enabled, DefaultModel: p.DefaultModel, Models: len(p.Models),
				Configured: p.BaseURL != "" && (name != config.ProviderOpenAI || p.APIKey != "")}
			if c, ok := s.lastCheck(ctx, o.ID, cfg.ActiveSetup, name); ok {
				ps.LastCheck = &c
			}
			d.Providers = append(d.Providers, ps)
		}
		if kb := st.KnowledgeBase; kb != nil && kb.URL != "" {
			d.KnowledgeBase = &KBStatus{URL: knowledge.Redact(kb.URL), HasToken: kb.APIToken != ""}
			if c, ok := s.lastCheck(ctx, o.ID, cfg.ActiveSetup, kbCheckName); ok {
				d.KnowledgeBase.LastCheck = &c
			}
		}
	}
	return d, nil
}
