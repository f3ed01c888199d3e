package config

import (
	"errors"
	"strings"
	"testing"
)

// Terminal escape injection through an org config: model names, URLs and
// secrets are drawn on members' and admins' consoles, so validation refuses
// control, C1 and bidi characters in them and names the field.
func TestValidateRefusesEscapesInConfigText(t *testing.T) {
	for path, edit := range map[string]func(o *Org){
		"setups.default.providers.openai.models[2]": func(o *Org) {
			o.Setups["default"].Providers["openai"].Models = []string{"a", "b", "gpt\x1b]52;c;Y3VybA==\x07"}
		},
		"setups.default.providers.openai.default_model": func(o *Org) {
			o.Setups["default"].Providers["openai"].DefaultModel = "a\u202e"
		},
		"setups.default.providers.openai.base_url": func(o *Org) {
			o.Setups["default"].Providers["openai"].BaseURL = "https://x.example/\u009b2J"
		},
		"setups.default.providers.openai.api_key": func(o *Org) {
			o.Setups["default"].Providers["openai"].APIKey = "sk-\x1b[2J"
		},
		"setups.default.knowledge_base.url": func(o *Org) {
			o.Setups["default"].KnowledgeBase = &KnowledgeBase{URL: "http://kb.example/\u2066"}
		},
		"setups.default.knowledge_base.api_token": func(o *Org) {
			o.Setups["default"].KnowledgeBase = &KnowledgeBase{URL: "http://kb.example", APIToken: "t\r"}
		},
	} {
		o := NewOrg()
		o.Setups["default"].Providers["openai"] = &Provider{Enabled: true, BaseURL: "https://api.openai.com/v1", Models: []string{"a"}}
		edit(o)
		err := o.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(fe.Message, "control characters") {
			t.Errorf("%s: got %v", path, err)
		}
	}
	// A setup name or provider key with an escape is refused without
	// echoing it into the error.
	o := NewOrg()
	o.Setups["lab\x1b[2J"] = &Setup{Providers: map[string]*Provider{}}
	if err := o.Validate(); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("setup name: %q", err)
	}
	o = NewOrg()
	o.Setups["default"].Providers["x\x1b]0;X\x07"] = &Provider{}
	if err := o.Validate(); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("provider name: %q", err)
	}
}
