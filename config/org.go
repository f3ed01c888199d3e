package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"lamb/internal/safetext"
)

// Provider names an org config may hold.
const (
	ProviderOpenAI = "openai"
	ProviderOllama = "ollama"
)

// Providers lists the providers lamb can call, in display order.
var Providers = []string{ProviderOpenAI, ProviderOllama}

// Unlimited is the limit value that means "no limit".
const Unlimited int64 = -1

// Org is an organization's configuration document (one JSON per org).
type Org struct {
	Version     int               `json:"version"`
	ActiveSetup string            `json:"active_setup"`
	Setups      map[string]*Setup `json:"setups"`
	Features    Features          `json:"features"`
	Limits      Limits            `json:"limits"`
	Alerts      Alerts            `json:"alerts,omitzero"`
	// Ceiling is what the platform's administrators allow this org: the
	// org's admins set Limits within it, and can read but not change it.
	// nil: no ceiling (every field unlimited).
	Ceiling *Limits `json:"ceiling,omitempty"`
}

// CeilingLimits is the org's ceiling, every field unlimited when none.
func (o *Org) CeilingLimits() Limits {
	if o.Ceiling == nil {
		return UnlimitedLimits()
	}
	return *o.Ceiling
}

// EffectiveLimits are what is enforced: each limit, or the ceiling where
// that is smaller.
func (o *Org) EffectiveLimits() Limits { return o.Limits.Within(o.CeilingLimits()) }

// SetCeiling sets the ceiling; an all-unlimited one is no ceiling.
func (o *Org) SetCeiling(l Limits) {
	if l == UnlimitedLimits() {
		o.Ceiling = nil
		return
	}
	o.Ceiling = &l
}

// Setup is one named set of provider settings (default, staging, prod…).
type Setup struct {
	DefaultProvider string               `json:"default_provider,omitempty"`
	Providers       map[string]*Provider `json:"providers"`
	KnowledgeBase   *KnowledgeBase       `json:"knowledge_base,omitempty"`
}

// Provider holds how to reach one AI provider.
type Provider struct {
	Enabled bool   `json:"enabled"`
	APIKey  string `json:"api_key,omitempty"`
	// APIKeySource is SourceSystem for a key the platform handed the org:
	// usable, not readable, and only sent to this base URL.
	APIKeySource string   `json:"api_key_source,omitempty"`
	BaseURL      string   `json:"base_url,omitempty"`
	Models       []string `json:"models,omitempty"`
	DefaultModel string   `json:"default_model,omitempty"`
}

// KnowledgeBase is the knowledge-base server of a setup.
type KnowledgeBase struct {
	URL      string `json:"url,omitempty"`
	APIToken string `json:"api_token,omitempty"`
	// APITokenSource is SourceSystem for a token the platform handed the
	// org, like Provider.APIKeySource.
	APITokenSource string `json:"api_token_source,omitempty"`
}

// Features are the org's switches.
type Features struct {
	SignupEnabled bool `json:"signup_enabled"`
}

// Limits caps what an org may use. -1 means unlimited, 0 nothing allowed.
type Limits struct {
	TokensPerMonth       int64 `json:"tokens_per_month"`
	RequestsPerMinute    int64 `json:"requests_per_minute"`
	MaxUsers             int64 `json:"max_users"`
	MaxAssistants        int64 `json:"max_assistants"`
	MaxAssistantsPerUser int64 `json:"max_assistants_per_user"`
	UserTokensPerMonth   int64 `json:"user_tokens_per_month"`
}

// Alerts are an org's budget alerts: crossing a threshold of a monthly
// token budget (the org's tokens_per_month, or a user's
// user_tokens_per_month) is recorded once per month and announced.
type Alerts struct {
	// Thresholds are percentages of a budget, increasing. nil (absent
	// from the document): DefaultAlertThresholds; empty ([]): no alerts.
	Thresholds []int `json:"thresholds,omitzero"`
	// WebhookURL receives each alert as a JSON POST; "" for none. It is
	// a secret (a webhook URL usually carries its own credential).
	WebhookURL string `json:"webhook_url,omitempty"`
}

// DefaultAlertThresholds are the thresholds of an org that set none.
func DefaultAlertThresholds() []int { return []int{80, 100} }

// Levels are the thresholds in force: the defaults when none are set.
func (a Alerts) Levels() []int {
	if a.Thresholds == nil {
		return DefaultAlertThresholds()
	}
	return a.Thresholds
}

// Bounds of alerts.thresholds.
const (
	MaxAlertThresholds = 10
	MaxAlertThreshold  = 1000 // percent: a lowered budget may be passed far
	maxWebhookURL      = 2048
)

// WebhookURLPath is the path of the webhook URL among the secrets.
const WebhookURLPath = "alerts.webhook_url"

// UnlimitedLimits returns limits with every field unlimited.
func UnlimitedLimits() Limits {
	return Limits{Unlimited, Unlimited, Unlimited, Unlimited, Unlimited, Unlimited}
}

// DefaultSetupName is the setup every new org starts with.
const DefaultSetupName = "default"

// NewOrg returns the configuration of a new organization: one empty setup,
// signup off, no limits.
func NewOrg() *Org {
	return &Org{
		Version:     1,
		ActiveSetup: DefaultSetupName,
		Setups:      map[string]*Setup{DefaultSetupName: {Providers: map[string]*Provider{}}},
		Limits:      UnlimitedLimits(),
	}
}

// ParseOrg decodes an org config document. Absent limits are unlimited.
// Unknown fields are rejected so that a typo doesn't silently do nothing.
func ParseOrg(data []byte) (*Org, error) {
	ceiling := UnlimitedLimits() // absent fields of a ceiling are unlimited too
	o := &Org{Limits: UnlimitedLimits(), Ceiling: &ceiling}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(o); err != nil {
		return nil, &FieldError{Path: jsonErrorPath(data, err), Message: jsonErrorMessage(data, err)}
	}
	// Not dec.More: it reports false for a stray '}' or ']' after the document.
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Message: "unexpected data after the JSON document"}
	}
	if o.Ceiling != nil {
		o.SetCeiling(*o.Ceiling)
	}
	if o.Setups == nil {
		o.Setups = map[string]*Setup{}
	}
	for _, s := range o.Setups {
		if s != nil && s.Providers == nil {
			s.Providers = map[string]*Provider{}
		}
	}
	return o, nil
}

// JSON encodes the config, indented for people to read.
func (o *Org) JSON() []byte {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		// Org holds only strings, numbers, bools, slices and maps.
		panic(fmt.Sprintf("encode org config: %v", err))
	}
	return data
}

// Clone returns a deep copy.
func (o *Org) Clone() *Org {
	c, err := ParseOrg(o.JSON())
	if err != nil {
		panic(fmt.Sprintf("clone org config: %v", err))
	}
	return c
}

// Setup returns the named setup, or the active one for "".
func (o *Org) Setup(name string) (*Setup, bool) {
	if name == "" {
		name = o.ActiveSetup
	}
	s, ok := o.Setups[name]
	return s, ok && s != nil
}

// SetupNames returns the setup names sorted, the active one first.
func (o *Org) SetupNames() []string {
	names := make([]string, 0, len(o.Setups))
	for n := range o.Setups {
		if n != o.ActiveSetup {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if _, ok := o.Setups[o.ActiveSetup]; ok {
		names = append([]string{o.ActiveSetup}, names...)
	}
	return names
}

// MapSecrets replaces every secret field (provider API keys, knowledge-base
// tokens, base or knowledge-base URLs that carry credentials, and the
// alerts' webhook URL) by fn of it. It is how secrets are sealed for storage, opened on load, and masked
// for display. A URL is a secret only when URLIsSecret says so: a plain URL
// is stored and shown as it is.
func (o *Org) MapSecrets(fn func(path, value string) (string, error)) error {
	for _, c := range o.Credentials() {
		for _, f := range []struct {
			path  string
			value *string
		}{{c.SecretPath, c.Secret}, {c.URLPath, c.URL}} {
			if *f.value == "" || (f.value == c.URL && !URLIsSecret(*f.value)) {
				continue
			}
			v, err := fn(f.path, *f.value)
			if err != nil {
				return err
			}
			*f.value = v
		}
	}
	if o.Alerts.WebhookURL != "" {
		v, err := fn(WebhookURLPath, o.Alerts.WebhookURL)
		if err != nil {
			return err
		}
		o.Alerts.WebhookURL = v
	}
	return nil
}

// Mask shows only the end of a secret: "sk-…a1b2".
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	head := ""
	if i := strings.IndexAny(secret, "-_"); i > 0 && i <= 8 && len(secret) > i+8 {
		head = secret[:i+1]
	}
	tail := ""
	if len(secret) >= 12 {
		tail = secret[len(secret)-4:]
	}
	return head + "…" + tail
}

// Masked returns a copy with every secret masked, for display.
func (o *Org) Masked() *Org {
	c := o.Clone()
	_ = c.MapSecrets(func(path, v string) (string, error) { return MaskSecret(path, v), nil })
	return c
}

// FieldError names the field of a config that is wrong and why.
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

var setupNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// ValidSetupName reports whether name can name a setup.
func ValidSetupName(name string) bool { return setupNameRE.MatchString(name) }

// Validate checks the whole document and returns the first problem found,
// as a *FieldError naming the field.
func (o *Org) Validate() error {
	if o.Version != 1 {
		return &FieldError{"version", fmt.Sprintf("must be 1, got %d", o.Version)}
	}
	if len(o.Setups) == 0 {
		return &FieldError{"setups", "at least one setup is required"}
	}
	for _, name := range sortedKeys(o.Setups) {
		if !setupNameRE.MatchString(name) {
			return &FieldError{"setups." + safetext.Sanitize(name), "setup names are 1-40 characters of a-z, 0-9, - and _, starting with a letter or digit"}
		}
		s := o.Setups[name]
		if s == nil {
			return &FieldError{"setups." + name, "must be an object"}
		}
		if err := s.validate("setups." + name); err != nil {
			return err
		}
	}
	if o.ActiveSetup == "" {
		return &FieldError{"active_setup", "is required"}
	}
	if _, ok := o.Setups[o.ActiveSetup]; !ok {
		return &FieldError{"active_setup", fmt.Sprintf("setup %q does not exist (have: %s)", o.ActiveSetup, strings.Join(sortedKeys(o.Setups), ", "))}
	}
	top := o.CeilingLimits()
	if err := top.validate("ceiling"); err != nil {
		return err
	}
	if err := o.Limits.validate("limits"); err != nil {
		return err
	}
	if err := o.Alerts.validate(); err != nil {
		return err
	}
	ceiling := top.fields()
	for i, f := range o.Limits.fields() {
		if c := *ceiling[i].v; c != Unlimited && (*f.v == Unlimited || *f.v > c) {
			return &FieldError{"limits." + f.name, fmt.Sprintf("can be at most %d, the ceiling the platform's administrators set; ask them to raise it", c)}
		}
	}
	return nil
}

func (s *Setup) validate(path string) error {
	for _, name := range sortedKeys(s.Providers) {
		pp := path + ".providers." + name
		if !slices.Contains(Providers, name) {
			return &FieldError{path + ".providers." + safetext.Sanitize(name), fmt.Sprintf("unknown provider (known: %s)", strings.Join(Providers, ", "))}
		}
		p := s.Providers[name]
		if p == nil {
			return &FieldError{pp, "must be an object"}
		}
		if err := p.validate(pp); err != nil {
			return err
		}
	}
	if s.DefaultProvider != "" {
		if !slices.Contains(Providers, s.DefaultProvider) {
			return &FieldError{path + ".default_provider", fmt.Sprintf("unknown provider %q (known: %s)", s.DefaultProvider, strings.Join(Providers, ", "))}
		}
		if _, ok := s.Providers[s.DefaultProvider]; !ok {
			return &FieldError{path + ".default_provider", fmt.Sprintf("provider %q is not configured in this setup", s.DefaultProvider)}
		}
	}
	if kb := s.KnowledgeBase; kb != nil && kb.APITokenSource != "" && kb.APITokenSource != SourceSystem {
		return &FieldError{path + ".knowledge_base.api_token_source", fmt.Sprintf("must be %q or absent, got %q", SourceSystem, kb.APITokenSource)}
	}
	if kb := s.KnowledgeBase; kb != nil {
		if err := checkText(path+".knowledge_base.url", kb.URL); err != nil {
			return err
		}
		if err := checkText(path+".knowledge_base.api_token", kb.APIToken); err != nil {
			return err
		}
		if kb.URL != "" {
			if err := checkURL(kb.URL); err != nil {
				return &FieldError{path + ".knowledge_base.url", err.Error()}
			}
		}
	}
	return nil
}

func (p *Provider) validate(path string) error {
	if p.APIKeySource != "" && p.APIKeySource != SourceSystem {
		return &FieldError{path + ".api_key_source", fmt.Sprintf("must be %q or absent, got %q", SourceSystem, p.APIKeySource)}
	}
	if err := checkText(path+".base_url", p.BaseURL); err != nil {
		return err
	}
	if err := checkText(path+".api_key", p.APIKey); err != nil {
		return err
	}
	if p.BaseURL != "" {
		if err := checkURL(p.BaseURL); err != nil {
			return &FieldError{path + ".base_url", err.Error()}
		}
	} else if p.Enabled {
		return &FieldError{path + ".base_url", "is required when the provider is enabled"}
	}
	seen := map[string]bool{}
	for i, m := range p.Models {
		// Model names are drawn in members' and admins' consoles, and
		// come from providers' model lists too.
		if err := checkText(fmt.Sprintf("%s.models[%d]", path, i), m); err != nil {
			return err
		}
		if strings.TrimSpace(m) == "" || m != strings.TrimSpace(m) {
			return &FieldError{fmt.Sprintf("%s.models[%d]", path, i), "model names can't be empty or have surrounding spaces"}
		}
		if seen[m] {
			return &FieldError{fmt.Sprintf("%s.models[%d]", path, i), fmt.Sprintf("model %q is listed twice", m)}
		}
		seen[m] = true
	}
	if err := checkText(path+".default_model", p.DefaultModel); err != nil {
		return err
	}
	if p.DefaultModel != "" && !seen[p.DefaultModel] {
		return &FieldError{path + ".default_model", fmt.Sprintf("%q is not in models", p.DefaultModel)}
	}
	return nil
}

func (a *Alerts) validate() error {
	if len(a.Thresholds) > MaxAlertThresholds {
		return &FieldError{"alerts.thresholds", fmt.Sprintf("at most %d thresholds, got %d", MaxAlertThresholds, len(a.Thresholds))}
	}
	for i, t := range a.Thresholds {
		path := fmt.Sprintf("alerts.thresholds[%d]", i)
		if t < 1 || t > MaxAlertThreshold {
			return &FieldError{path, fmt.Sprintf("must be a percentage of the budget from 1 to %d, got %d", MaxAlertThreshold, t)}
		}
		if i > 0 && t <= a.Thresholds[i-1] {
			return &FieldError{path, fmt.Sprintf("%d comes after %d: list the thresholds in increasing order, each once", t, a.Thresholds[i-1])}
		}
	}
	if a.WebhookURL == "" {
		return nil
	}
	if err := checkText(WebhookURLPath, a.WebhookURL); err != nil {
		return err
	}
	if len(a.WebhookURL) > maxWebhookURL {
		return &FieldError{WebhookURLPath, fmt.Sprintf("is longer than %d characters", maxWebhookURL)}
	}
	if err := checkURL(a.WebhookURL); err != nil {
		return &FieldError{WebhookURLPath, err.Error()}
	}
	return nil
}

// limitField is one field of Limits, by its JSON name.
type limitField struct {
	name string
	v    *int64
}

func (l *Limits) fields() []limitField {
	return []limitField{
		{"tokens_per_month", &l.TokensPerMonth},
		{"requests_per_minute", &l.RequestsPerMinute},
		{"max_users", &l.MaxUsers},
		{"max_assistants", &l.MaxAssistants},
		{"max_assistants_per_user", &l.MaxAssistantsPerUser},
		{"user_tokens_per_month", &l.UserTokensPerMonth},
	}
}

func (l Limits) validate(path string) error {
	for _, f := range l.fields() {
		if *f.v < Unlimited {
			return &FieldError{path + "." + f.name, fmt.Sprintf("must be -1 (unlimited) or 0 or more, got %d", *f.v)}
		}
	}
	return nil
}

// Within returns l with every limit brought down to ceiling where it is
// higher (an unlimited one included).
func (l Limits) Within(ceiling Limits) Limits {
	c := ceiling.fields()
	for i, f := range l.fields() {
		if max := *c[i].v; max != Unlimited && (*f.v == Unlimited || *f.v > max) {
			*f.v = max
		}
	}
	return l
}

// checkText refuses text that a terminal would act on (escape sequences,
// C1 controls, bidi overrides), naming the field.
func checkText(path, s string) error {
	if err := safetext.Check(s); err != nil {
		return &FieldError{path, err.Error()}
	}
	return nil
}

// checkURL accepts absolute http and https URLs with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a valid URL: %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must start with http:// or https://, got %q", s)
	}
	if u.Host == "" {
		return fmt.Errorf("has no host: %q", s)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonErrorMessage(data []byte, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be %s, got %s", jsonTypeName(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, se)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return "invalid JSON: " + strings.TrimPrefix(msg, "json: ")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "an integer"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "map", "struct", "ptr":
		return "an object"
	}
	return kind
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset-1 && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
