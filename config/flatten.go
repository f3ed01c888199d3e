package config

import (
	"encoding/json"
	"fmt"
)

// Flatten maps each leaf of the document to its JSON value: objects are
// walked ("setups.default.providers.openai.base_url"), lists are leaves.
// It is how changes between two configs are named.
func Flatten(o *Org) map[string]string {
	var doc any
	if err := json.Unmarshal(o.JSON(), &doc); err != nil {
		panic(fmt.Sprintf("flatten org config: %v", err))
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, child := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, child)
			}
			return
		}
		b, _ := json.Marshal(v)
		out[prefix] = string(b)
	}
	walk("", doc)
	return out
}
