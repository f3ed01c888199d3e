package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"lamb/secret"
)

// An org config document from anyone (an admin's paste, an import file)
// is parsed and validated without panicking, every refusal names a field
// or says what is wrong, and a valid document survives encoding and
// parsing again, and sealing and opening its secrets, unchanged.
func FuzzOrgConfig(f *testing.F) {
	f.Add(NewOrg().JSON())
	f.Add([]byte(`{"version":1,"active_setup":"default","setups":{"default":{"default_provider":"openai","providers":{` +
		`"openai":{"enabled":true,"api_key":"sk-test-0123456789","base_url":"https://api.openai.com/v1","models":["gpt-4o-mini","gpt-4o"],"default_model":"gpt-4o-mini"},` +
		`"ollama":{"enabled":false,"base_url":"http://localhost:11434","models":["llama3.1"],"default_model":"llama3.1"}},` +
		`"knowledge_base":{"url":"http://kb:9090","api_token":"kb-token"}}},"features":{"signup_enabled":true},` +
		`"limits":{"tokens_per_month":1000000,"requests_per_minute":600,"max_users":-1,"max_assistants":100,"max_assistants_per_user":10,"user_tokens_per_month":-1}}`))
	f.Add([]byte(`{"setups":{"x":{"providers":{"openai":{"base_url":"https://user:pass@example.com/v1"}}}},"active_setup":"x"}`))
	f.Add([]byte(`{"limits":{"max_users":-2}}`))
	f.Add([]byte(`{"setups":{"default":null}}`))
	f.Add([]byte(`{"unknown":1}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"alerts":{"thresholds":[80,100,0],"webhook_url":"ftp://x"}}`))
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	box, err := secret.NewBox(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOrg(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Message == "" {
				t.Fatalf("ParseOrg refused %q with %v, not a FieldError that says why", data, err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Message == "" {
				t.Fatalf("Validate refused %q with %v, not a FieldError that says why", data, err)
			}
			return
		}
		enc := o.JSON()
		again, err := ParseOrg(enc)
		if err != nil {
			t.Fatalf("a valid config doesn't parse again: %v\n%s", err, enc)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("a valid config isn't valid after a round trip: %v\n%s", err, enc)
		}
		if !bytes.Equal(again.JSON(), enc) {
			t.Fatalf("round trip changed the config:\n%s\n%s", enc, again.JSON())
		}
		sealed := o.Clone()
		if err := sealed.MapSecrets(func(_, v string) (string, error) { return box.Seal(v) }); err != nil {
			t.Fatal(err)
		}
		if err := sealed.MapSecrets(func(_, v string) (string, error) { return box.Open(v) }); err != nil {
			t.Fatalf("open sealed secrets: %v", err)
		}
		if !bytes.Equal(sealed.JSON(), enc) {
			t.Fatalf("seal and open changed the config:\n%s\n%s", enc, sealed.JSON())
		}
	})
}
