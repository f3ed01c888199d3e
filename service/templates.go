package service

import (
	"context"
	"fmt"
	"strings"

	"lamb/config"
	"lamb/store"
)

// Templates: a new org may start from an export document or from an
// existing org — its config, and unless config-only its assistants, owned
// by the new org's admin. The template's users stay out: a person has one
// account on the platform (user move brings people over). The secrets of
// an org's providers are copied only when a system admin asks for them,
// and that is audited in both orgs.

// TemplateResult says what a new org took from its template.
type TemplateResult struct {
	From           string   `json:"from"` // "file", or the slug of the org it copied
	ConfigOnly     bool     `json:"config_only,omitempty"`
	SecretsCopied  bool     `json:"secrets_copied,omitempty"`
	SecretsCleared []string `json:"secrets_cleared,omitempty"` // set them again
	// SignupDisabled: the template had signup on, but the key of the new
	// org isn't the template's; it starts off until one is set.
	SignupDisabled bool                `json:"signup_disabled,omitempty"`
	Assistants     []AssistantIDChange `json:"assistants"`
}

// orgTemplate is what a new org starts from.
type orgTemplate struct {
	from       string
	sourceID   int64 // the org copied, 0 for a file
	cfg        *config.Org
	cleared    []string
	copied     bool // secrets copied in clear
	assistants []ExportAssistant
}

// checkTemplateInput refuses templates asked for in ways that contradict.
func checkTemplateInput(in CreateOrgInput) error {
	switch {
	case in.From != nil && in.FromOrg != "":
		return invalid("from", "start from a file or from an organization, not both")
	case in.CopySystemProviders && (in.From != nil || in.FromOrg != ""):
		return invalid("copy_system_providers", "a template brings its own providers; use one or the other")
	case in.WithSecrets && in.FromOrg == "":
		return invalid("with_secrets", "is for copying an organization (from-org); a file holds the secrets it was exported with")
	case in.ConfigOnly && in.From == nil && in.FromOrg == "":
		return invalid("config_only", "is for starting from a template (a file or an organization)")
	}
	return nil
}

// templateFromExport reads the template of an export document.
func templateFromExport(ex Export, configOnly bool) (*orgTemplate, error) {
	cfg, cleared, err := checkExport(ex)
	if err != nil {
		return nil, prefixField("from.", err)
	}
	t := &orgTemplate{from: "file", cfg: cfg, cleared: cleared}
	if !configOnly {
		t.assistants = ex.Assistants
	}
	return t, nil
}

// templateFromOrg reads the template of an existing org through q: its
// config (secrets masked away unless withSecrets), and its assistants
// unless configOnly.
func (s *Service) templateFromOrg(ctx context.Context, q *store.Queries, a Actor, slug string, configOnly, withSecrets bool) (*orgTemplate, error) {
	src, err := s.orgForAdmin(ctx, q, a, slug)
	if err != nil {
		return nil, prefixField("from_org: ", err)
	}
	cfg, err := s.openConfig(src)
	if err != nil {
		return nil, err
	}
	t := &orgTemplate{from: src.Slug, sourceID: src.ID, copied: withSecrets}
	switch {
	case !withSecrets:
		cfg = cfg.Masked()
		t.cleared = clearMaskedSecrets(cfg)
	case src.IsSystem:
		// The platform's keys: the new org uses them, its admins can't
		// read them (as with copy-system-providers).
		markPlatformCredentials(cfg)
	}
	t.cfg = cfg
	if !configOnly {
		if t.assistants, err = exportAssistants(ctx, q, src.ID); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// applyTemplate creates a template's assistants in a new org, owned by its
// admin. Names the admin already holds get a number ("Tutor (2)"). The
// org's assistant limits count them.
func (s *Service) applyTemplate(ctx context.Context, tx *store.Tx, o store.Org, cfg *config.Org, t *orgTemplate, admin *store.User, res *TemplateResult) error {
	res.Assistants = []AssistantIDChange{}
	if len(t.assistants) == 0 {
		return nil
	}
	if admin == nil {
		return invalid("admin", "the template has %d assistants, owned in the new organization by its admin: name the admin (admin email), or start from the config only", len(t.assistants))
	}
	owned, err := tx.AssistantsOwnedBy(ctx, admin.ID)
	if err != nil {
		return err
	}
	l := cfg.EffectiveLimits()
	if n := int64(len(owned) + len(t.assistants)); l.MaxAssistants != config.Unlimited && n > l.MaxAssistants {
		return &LimitError{Limit: "max_assistants", Message: fmt.Sprintf("the template has %d assistants and its limits.max_assistants is %d; raise it in the template, or start from the config only", len(t.assistants), l.MaxAssistants)}
	}
	if n := int64(len(owned) + len(t.assistants)); l.MaxAssistantsPerUser != config.Unlimited && n > l.MaxAssistantsPerUser {
		return &LimitError{Limit: "max_assistants_per_user", Message: fmt.Sprintf("the template's %d assistants all go to %s, and its limits.max_assistants_per_user is %d; raise it in the template, or start from the config only", len(t.assistants), admin.Email, l.MaxAssistantsPerUser)}
	}
	names := map[string]bool{}
	for _, as := range owned {
		names[as.Name] = true
	}
	for i, ea := range t.assistants {
		name := freeName(ea.Name, names)
		names[name] = true
		as, err := s.createImportedAssistant(ctx, tx, o.ID, cfg, *admin, ea, name, fmt.Sprintf("from.assistants[%d].", i))
		if err != nil {
			return err
		}
		res.Assistants = append(res.Assistants, AssistantIDChange{Name: as.Name, Owner: admin.Email, OldID: max(ea.ID, 0), NewID: as.ID})
	}
	return nil
}

// freeName is name, or name numbered "(2)", "(3)"… when taken.
func freeName(name string, taken map[string]bool) string {
	if !taken[name] {
		return name
	}
	for n := 2; ; n++ {
		if c := fmt.Sprintf("%s (%d)", name, n); !taken[c] {
			return c
		}
	}
}

// ConfigImportResult says what importing a config into an existing org
// changed (or, dry, would change).
type ConfigImportResult struct {
	Slug    string   `json:"slug"`
	Changed []string `json:"changed"`
	// SecretsKept: masked in the file, so the org keeps its own value.
	SecretsKept []string `json:"secrets_kept,omitempty"`
	// SecretsCleared: masked in the file, and the org had none there.
	SecretsCleared []string `json:"secrets_cleared,omitempty"`
	// LeftOut counts what of the file a config import doesn't take.
	LeftOut struct {
		Users      int `json:"users"`
		Assistants int `json:"assistants"`
	} `json:"left_out"`
	DryRun bool `json:"dry_run"`
}

// ImportOrgConfig takes the settings of an export into an existing org:
// its config (providers, setups, knowledge bases, limits, alerts), not its
// users or assistants. A secret the file carries masked keeps the org's
// own value at that path (cleared when there is none); the org keeps its
// signup state (its key is its own) and its ceiling (set by system
// admins), and limits above the ceiling come down to it. Every rule of a
// config change holds (org config set). With dryRun nothing is written.
// System admins, and the org's admins.
func (s *Service) ImportOrgConfig(ctx context.Context, a Actor, slug string, ex Export, dryRun bool) (ConfigImportResult, error) {
	if ex.Version != ExportVersion {
		return ConfigImportResult{}, invalid("version", "must be %d, got %d", ExportVersion, ex.Version)
	}
	file, err := config.ParseOrg(ex.Config)
	if err != nil {
		return ConfigImportResult{}, prefixField("config.", fromConfig(err))
	}
	res := ConfigImportResult{DryRun: dryRun}
	res.LeftOut.Users, res.LeftOut.Assistants = len(ex.Users), len(ex.Assistants)
	changed, err := s.editConfigPlan(ctx, a, slug, "config.import", dryRun, func(_ *store.Tx, o store.Org, c *config.Org) (map[string]any, error) {
		res.Slug, res.SecretsKept, res.SecretsCleared = o.Slug, nil, nil
		own := map[string]string{}
		_ = c.MapSecrets(func(path, v string) (string, error) { own[path] = v; return v, nil })
		next := file.Clone()
		_ = next.MapSecrets(func(path, v string) (string, error) {
			if !strings.Contains(v, "…") {
				return v, nil
			}
			if old := own[path]; old != "" {
				res.SecretsKept = append(res.SecretsKept, path)
				return old, nil
			}
			res.SecretsCleared = append(res.SecretsCleared, path)
			if strings.HasPrefix(v, "http") { // a URL keeps its address, without its credentials
				return config.StripURLCredentials(v), nil
			}
			return "", nil
		})
		next.Features.SignupEnabled = c.Features.SignupEnabled
		next.SetCeiling(c.CeilingLimits())
		next.Limits = next.Limits.Within(c.CeilingLimits())
		*c = *next
		return map[string]any{"from": ex.Organization.Slug}, nil
	})
	if err != nil {
		return ConfigImportResult{}, err
	}
	res.Changed = changed
	if res.Changed == nil {
		res.Changed = []string{}
	}
	return res, nil
}
