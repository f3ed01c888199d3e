package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/provider"
	"lamb/store"
)

// testTimeout bounds "test connection": a provider that doesn't answer
// fails the test instead of hanging the console.
const testTimeout = 10 * time.Second

// checkSetting names the setting that keeps the last "test connection"
// of a provider, so that the dashboard still shows it after a restart
// (and on every lamb of a database).
func checkSetting(orgID int64, setup, provider string) string {
	return fmt.Sprintf("%s%d:%s:%s", checkSettingPrefix, orgID, setup, provider)
}

const checkSettingPrefix = "provider_check:"

// ProviderCheck is the result of a "test connection".
type ProviderCheck struct {
	OK     bool     `json:"ok"`
	Models []string `json:"models,omitempty"`
	// Refused counts the model ids the provider listed that hold control
	// characters: they are left out of Models, since they can't be stored.
	Refused int       `json:"refused,omitempty"`
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

// ProviderInput changes one provider of a setup. APIKey nil keeps the
// stored key; "" clears it.
type ProviderInput struct {
	Enabled      bool
	APIKey       *string
	BaseURL      string
	Models       []string
	DefaultModel string
}

func checkSetupName(field, name string) error {
	if !config.ValidSetupName(name) {
		return invalid(field, "setup names are 1-40 characters of a-z, 0-9, - and _, starting with a letter or digit")
	}
	return nil
}

func knownProvider(name string) error {
	if !slices.Contains(config.Providers, name) {
		return invalid("provider", "unknown provider %q (known: %s)", name, strings.Join(config.Providers, ", "))
	}
	return nil
}

// UpdateProvider writes one provider's settings in a setup, validating the
// whole config first.
func (s *Service) UpdateProvider(ctx context.Context, a Actor, slug, setup, name string, in ProviderInput) error {
	if err := knownProvider(name); err != nil {
		return err
	}
	models := make([]string, 0, len(in.Models))
	for _, m := range in.Models {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	return s.editConfig(ctx, a, slug, "provider.update", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		st, ok := c.Setups[setup]
		if !ok {
			return nil, notFound("setup %q", setup)
		}
		p := st.Providers[name]
		if p == nil {
			p = &config.Provider{}
			st.Providers[name] = p
		}
		p.Enabled = in.Enabled
		p.BaseURL = strings.TrimRight(strings.TrimSpace(in.BaseURL), "/")
		p.Models = models
		p.DefaultModel = strings.TrimSpace(in.DefaultModel)
		if p.DefaultModel == "" && len(models) > 0 {
			p.DefaultModel = models[0]
		}
		if in.APIKey != nil {
			p.APIKey = strings.TrimSpace(*in.APIKey)
		}
		if st.DefaultProvider == "" || st.Providers[st.DefaultProvider] == nil {
			st.DefaultProvider = name
		}
		return map[string]any{"setup": setup, "provider": name, "api_key_changed": in.APIKey != nil}, nil
	})
}

// TestProvider lists the models a provider serves, with the setup's base URL
// and key, within testTimeout. The result is remembered for the dashboard.
func (s *Service) TestProvider(ctx context.Context, a Actor, slug, setup, name string) (ProviderCheck, error) {
	if err := knownProvider(name); err != nil {
		return ProviderCheck{}, err
	}
	o, st, err := s.setupForAdmin(ctx, a, slug, setup)
	if err != nil {
		return ProviderCheck{}, err
	}
	p := st.Providers[name]
	if p == nil || p.BaseURL == "" {
		return ProviderCheck{}, invalid("base_url", "set the %s base URL first", name)
	}
	tctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	models, err := s.providers.ListModels(tctx, provider.Target{Provider: name, BaseURL: p.BaseURL, APIKey: p.APIKey})
	res := ProviderCheck{OK: err == nil, At: s.now().UTC()}
	// Model ids come from a network peer: one carrying an escape sequence
	// is left out here, and config validation would refuse it anyway.
	for _, m := range models {
		if safetext.Check(m) != nil {
			res.Refused++
			continue
		}
		res.Models = append(res.Models, m)
	}
	if err != nil {
		res.Error = err.Error()
	}
	s.rememberCheck(ctx, o, setup, name, res)
	return res, nil
}

// rememberCheck keeps a connection test's result for the dashboard.
func (s *Service) rememberCheck(ctx context.Context, o store.Org, setup, name string, res ProviderCheck) {
	data, err := json.Marshal(res)
	if err == nil {
		err = s.st.SetSetting(ctx, checkSetting(o.ID, setup, name), string(data))
	}
	if err != nil {
		s.log.Warn("remember connection test", "org", o.Slug, "err", err)
	}
}

// setupForAdmin loads one setup of an org the actor administers, secrets
// decrypted, for connection tests.
func (s *Service) setupForAdmin(ctx context.Context, a Actor, slug, setup string) (store.Org, *config.Setup, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return store.Org{}, nil, err
	}
	c, err := s.openConfig(o)
	if err != nil {
		return store.Org{}, nil, err
	}
	st, ok := c.Setups[setup]
	if !ok {
		return store.Org{}, nil, notFound("setup %q", setup)
	}
	return o, st, nil
}

// lastCheck returns the remembered test result of a provider.
func (s *Service) lastCheck(ctx context.Context, orgID int64, setup, name string) (ProviderCheck, bool) {
	v, err := s.st.Setting(ctx, checkSetting(orgID, setup, name))
	var r ProviderCheck
	if err != nil || json.Unmarshal([]byte(v), &r) != nil {
		return ProviderCheck{}, false
	}
	return r, true
}

// UpdateKnowledgeBase sets a setup's knowledge base URL and, when token is
// not nil, its token ("" clears).
func (s *Service) UpdateKnowledgeBase(ctx context.Context, a Actor, slug, setup, kbURL string, token *string) error {
	return s.editConfig(ctx, a, slug, "knowledge_base.update", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		st, ok := c.Setups[setup]
		if !ok {
			return nil, notFound("setup %q", setup)
		}
		if st.KnowledgeBase == nil {
			st.KnowledgeBase = &config.KnowledgeBase{}
		}
		st.KnowledgeBase.URL = strings.TrimRight(strings.TrimSpace(kbURL), "/")
		if token != nil {
			st.KnowledgeBase.APIToken = strings.TrimSpace(*token)
		}
		if st.KnowledgeBase.URL == "" && st.KnowledgeBase.APIToken == "" {
			st.KnowledgeBase = nil
		}
		return map[string]any{"setup": setup, "api_token_changed": token != nil}, nil
	})
}

// TestKnowledgeBase calls GET {url}/health of a setup's knowledge base.
func (s *Service) TestKnowledgeBase(ctx context.Context, a Actor, slug, setup string) (ProviderCheck, error) {
	o, st, err := s.setupForAdmin(ctx, a, slug, setup)
	if err != nil {
		return ProviderCheck{}, err
	}
	if st.KnowledgeBase == nil || st.KnowledgeBase.URL == "" {
		return ProviderCheck{}, invalid("knowledge_base.url", "set the knowledge base URL first")
	}
	tctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, st.KnowledgeBase.URL+"/health", nil)
	if err != nil {
		return ProviderCheck{}, invalid("knowledge_base.url", "%v", err)
	}
	if st.KnowledgeBase.APIToken != "" {
		req.Header.Set("Authorization", "Bearer "+st.KnowledgeBase.APIToken)
	}
	res := ProviderCheck{At: s.now().UTC()}
	resp, err := s.providers.HTTP().Do(req)
	switch {
	case err != nil:
		res.Error = provider.Explain(provider.Target{Provider: "knowledge base", BaseURL: st.KnowledgeBase.URL}, err).Error()
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		res.Error = fmt.Sprintf("knowledge base at %s answered HTTP %d to /health", config.MaskURL(st.KnowledgeBase.URL), resp.StatusCode)
	default:
		resp.Body.Close()
		res.OK = true
	}
	s.rememberCheck(ctx, o, setup, kbCheckName, res)
	return res, nil
}

// kbCheckName keeps a knowledge base's test result beside the providers'.
const kbCheckName = "knowledge_base"

// AddSetup adds an empty setup (or a copy of from).
func (s *Service) AddSetup(ctx context.Context, a Actor, slug, name, from string) error {
	if err := checkSetupName("setup", name); err != nil {
		return err
	}
	return s.editConfig(ctx, a, slug, "setup.add", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		if _, ok := c.Setups[name]; ok {
			return nil, conflict("setup: %q already exists", name)
		}
		st := &config.Setup{Providers: map[string]*config.Provider{}}
		if from != "" {
			if _, ok := c.Setups[from]; !ok {
				return nil, notFound("setup %q", from)
			}
			st = c.Clone().Setups[from]
		}
		c.Setups[name] = st
		return map[string]any{"setup": name, "from": from}, nil
	})
}

// RenameSetup renames a setup; the active setup name follows.
func (s *Service) RenameSetup(ctx context.Context, a Actor, slug, from, to string) error {
	if err := checkSetupName("setup", to); err != nil {
		return err
	}
	return s.editConfig(ctx, a, slug, "setup.rename", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		st, ok := c.Setups[from]
		if !ok {
			return nil, notFound("setup %q", from)
		}
		if _, ok := c.Setups[to]; ok {
			return nil, conflict("setup: %q already exists", to)
		}
		delete(c.Setups, from)
		c.Setups[to] = st
		if c.ActiveSetup == from {
			c.ActiveSetup = to
		}
		return map[string]any{"from": from, "to": to}, nil
	})
}

// DeleteSetup deletes a setup other than the active one.
func (s *Service) DeleteSetup(ctx context.Context, a Actor, slug, name string) error {
	return s.editConfig(ctx, a, slug, "setup.delete", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		if _, ok := c.Setups[name]; !ok {
			return nil, notFound("setup %q", name)
		}
		if c.ActiveSetup == name {
			return nil, invalid("setup", "%q is the active setup; make another setup active first", name)
		}
		delete(c.Setups, name)
		return map[string]any{"setup": name}, nil
	})
}

// SetActiveSetup picks the setup completions use by default.
func (s *Service) SetActiveSetup(ctx context.Context, a Actor, slug, name string) error {
	return s.editConfig(ctx, a, slug, "setup.activate", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		if _, ok := c.Setups[name]; !ok {
			return nil, notFound("setup %q", name)
		}
		c.ActiveSetup = name
		return map[string]any{"setup": name}, nil
	})
}

// SetLimits replaces an org's limits (-1 unlimited, 0 nothing allowed).
func (s *Service) SetLimits(ctx context.Context, a Actor, slug string, l config.Limits) error {
	_, err := s.UpdateLimits(ctx, a, slug, func(cur *config.Limits) { *cur = l })
	return err
}

// UpdateLimits changes some of an org's limits with change, which gets
// the current ones, inside one transaction: two admins changing different
// limits at the same moment don't overwrite each other. It returns the
// limits as saved.
func (s *Service) UpdateLimits(ctx context.Context, a Actor, slug string, change func(*config.Limits)) (config.Limits, error) {
	var out config.Limits
	err := s.editConfig(ctx, a, slug, "limits.update", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		change(&c.Limits)
		out = c.Limits
		return nil, nil
	})
	return out, err
}
