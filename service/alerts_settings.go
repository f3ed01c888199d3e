package service

import (
	"context"
	"net/url"
	"slices"

	"lamb/config"
	"lamb/internal/netguard"
	"lamb/store"
)

// AlertsView is an org's budget alerts: its settings and this month's
// crossings.
type AlertsView struct {
	Org string `json:"organization"`
	// Thresholds in force (the defaults when the config sets none);
	// empty: alerts are off.
	Thresholds []int `json:"thresholds"`
	Default    bool  `json:"thresholds_default"`
	// WebhookURL is masked: scheme and host only.
	WebhookURL         string        `json:"webhook_url,omitempty"`
	TokensPerMonth     int64         `json:"tokens_per_month"`      // the budget in force (-1 none)
	UserTokensPerMonth int64         `json:"user_tokens_per_month"` // each user's (-1 none)
	Alerts             []BudgetAlert `json:"alerts"`                // this month's crossings
}

// BudgetAlerts returns an org's alert settings and this month's
// crossings. System admins, and its admins.
func (s *Service) BudgetAlerts(ctx context.Context, a Actor, slug string) (AlertsView, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return AlertsView{}, err
	}
	cfg, err := s.openConfig(o)
	if err != nil {
		return AlertsView{}, err
	}
	alerts, err := s.currentAlerts(ctx, o, 0, 1000)
	if err != nil {
		return AlertsView{}, err
	}
	l := cfg.EffectiveLimits()
	return AlertsView{Org: o.Slug, Thresholds: slices.Clone(cfg.Alerts.Levels()), Default: cfg.Alerts.Thresholds == nil,
		WebhookURL: config.MaskWebhookURL(cfg.Alerts.WebhookURL), TokensPerMonth: l.TokensPerMonth,
		UserTokensPerMonth: l.UserTokensPerMonth, Alerts: alerts}, nil
}

// AlertsInput changes an org's alert settings; nil fields keep theirs.
type AlertsInput struct {
	// Thresholds replace the thresholds; an empty list turns alerts off.
	Thresholds *[]int
	// DefaultThresholds goes back to the defaults (80 and 100 %).
	DefaultThresholds bool
	// WebhookURL replaces the webhook; "" removes it.
	WebhookURL *string
}

// SetAlerts changes an org's alert settings (audited as alerts.update)
// and returns them as saved. System admins, and its admins.
func (s *Service) SetAlerts(ctx context.Context, a Actor, slug string, in AlertsInput) (AlertsView, error) {
	if in.Thresholds != nil && in.DefaultThresholds {
		return AlertsView{}, invalid("alerts.thresholds", "give the thresholds or ask for the defaults, not both")
	}
	err := s.editConfig(ctx, a, slug, "alerts.update", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		switch {
		case in.DefaultThresholds:
			c.Alerts.Thresholds = nil
		case in.Thresholds != nil:
			c.Alerts.Thresholds = append([]int{}, *in.Thresholds...)
		}
		if in.WebhookURL != nil {
			c.Alerts.WebhookURL = *in.WebhookURL
		}
		return nil, nil
	})
	if err != nil {
		return AlertsView{}, err
	}
	return s.BudgetAlerts(ctx, a, slug)
}

// checkWebhook refuses a webhook URL, newly set in next, that names an
// address inside lamb's network (netguard), unless the operator allows
// those. A URL already stored is left alone: it is refused when dialled.
func (s *Service) checkWebhook(cur, next *config.Org) error {
	v := next.Alerts.WebhookURL
	if v == "" || (cur != nil && v == cur.Alerts.WebhookURL) || s.alerts.opts.AllowPrivate {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil // Validate names it
	}
	if err := netguard.CheckHost(u.Hostname()); err != nil {
		return invalid(config.WebhookURLPath, "%v", err)
	}
	return nil
}

// WebhookTest is how a test delivery went.
type WebhookTest struct {
	OK     bool   `json:"ok"`
	Status int    `json:"http_status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// TestAlertWebhook sends the org's webhook one test alert (event
// budget.alert.test), once, and says how it went; audited, as it makes
// lamb send a request where an org admin said. System admins, and its
// admins.
func (s *Service) TestAlertWebhook(ctx context.Context, a Actor, slug string) (WebhookTest, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return WebhookTest{}, err
	}
	cfg, err := s.openConfig(o)
	if err != nil {
		return WebhookTest{}, err
	}
	if cfg.Alerts.WebhookURL == "" {
		return WebhookTest{}, invalid(config.WebhookURLPath, "is not set; set it first (org alerts set %s --webhook-url URL)", o.Slug)
	}
	now := s.now()
	month := monthStart(now)
	limit := cfg.EffectiveLimits().TokensPerMonth
	alert := BudgetAlert{Org: o.Slug, Scope: ScopeOrg, Threshold: 0, Limit: limit, Period: month.Format("2006-01"),
		ResetsAt: month.AddDate(0, 1, 0), CrossedAt: now,
		Message: "a test of " + o.Slug + "'s budget alerts, sent by " + a.Display() + "; no budget was crossed"}
	status, _, perr := s.alerts.hook.post(ctx, cfg.Alerts.WebhookURL, webhookBody("budget.alert.test", alert))
	res := WebhookTest{OK: perr == nil, Status: status}
	if perr != nil {
		res.Error = perr.Error()
	}
	if err := s.audit(ctx, s.st.Queries, a, o.ID, "alerts.webhook_test", o.Slug, map[string]any{"ok": res.OK, "http_status": status}); err != nil {
		return WebhookTest{}, err
	}
	return res, nil
}
