package service

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"lamb/config"
	"lamb/store"
)

// AssistantKB is how an assistant retrieves context from the knowledge
// base of the setup that serves it (DESIGN §11).
type AssistantKB struct {
	Collections []string `json:"collections"`
	TopK        int      `json:"top_k"`     // 1-20; 0 in input = DefaultTopK
	Threshold   float64  `json:"threshold"` // 0-1: results less similar are dropped
	OnError     string   `json:"on_error"`  // KBFail (default) or KBContinue
}

// What an assistant does when its knowledge base fails.
const (
	KBFail     = "fail"     // answer 502 knowledge_base_unavailable, without calling the provider
	KBContinue = "continue" // answer without context, saying so in a header
)

// Bounds of an assistant's retrieval settings.
const (
	DefaultTopK       = 3
	maxTopK           = 20
	MaxKBCollections  = 10 // collections of one assistant
	maxPromptTemplate = 100_000
)

// DefaultPromptTemplate places retrieved context for an assistant with
// collections and no template of its own.
const DefaultPromptTemplate = "Use the following context to answer the question. " +
	"If the context does not contain the answer, say so, then answer as well as you can.\n\n" +
	"Context:\n{context}\n\nQuestion: {user_input}"

// collectionID is what a collection id may be: it goes into the knowledge
// base's URL path, so nothing that would change the path (/, ?, #, %).
var collectionID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// placeholder finds {name} in a template; other braces are text.
var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// checkAssistantKB validates and normalizes an assistant's retrieval
// settings and template against the setup that will serve it. Settings
// without collections are none at all.
func checkAssistantKB(in *AssistantInput, setupName string, st *config.Setup) error {
	if in.PromptTemplate != "" {
		if err := checkPromptTemplate(in.PromptTemplate); err != nil {
			return err
		}
	}
	kb := in.KnowledgeBase
	if kb == nil {
		return nil
	}
	var ids []string
	for _, c := range kb.Collections {
		c = strings.TrimSpace(c)
		if c == "" || slices.Contains(ids, c) {
			continue
		}
		if !collectionID.MatchString(c) {
			return invalid("knowledge_base.collections", "%q is not a collection id: want 1-100 characters of letters, digits, '.', '_' and '-'", c)
		}
		ids = append(ids, c)
	}
	if len(ids) == 0 {
		in.KnowledgeBase = nil
		return nil
	}
	if len(ids) > MaxKBCollections {
		return invalid("knowledge_base.collections", "at most %d collections, got %d", MaxKBCollections, len(ids))
	}
	out := AssistantKB{Collections: ids, TopK: kb.TopK, Threshold: kb.Threshold, OnError: strings.TrimSpace(kb.OnError)}
	if out.TopK == 0 {
		out.TopK = DefaultTopK
	}
	if out.TopK < 1 || out.TopK > maxTopK {
		return invalid("knowledge_base.top_k", "must be between 1 and %d", maxTopK)
	}
	// Written so that NaN, which compares false with everything, fails.
	if !(out.Threshold >= 0 && out.Threshold <= 1) {
		return invalid("knowledge_base.threshold", "must be between 0 and 1")
	}
	switch out.OnError {
	case "":
		out.OnError = KBFail
	case KBFail, KBContinue:
	default:
		return invalid("knowledge_base.on_error", "must be %s or %s, got %q", KBFail, KBContinue, kb.OnError)
	}
	if st.KnowledgeBase == nil || st.KnowledgeBase.URL == "" {
		return invalid("knowledge_base.collections", "setup %s of the organization has no knowledge base; an admin can set setups.%s.knowledge_base in the Providers screen", setupName, setupName)
	}
	in.KnowledgeBase = &out
	return nil
}

// CheckPromptTemplate tells whether saving an assistant would accept a
// template, for forms that check as it is typed ("" is the built-in one).
func CheckPromptTemplate(t string) error {
	if t == "" {
		return nil
	}
	return checkPromptTemplate(t)
}

// checkPromptTemplate refuses a template that would lose the question or
// leave a placeholder lamb doesn't fill.
func checkPromptTemplate(t string) error {
	if utf8.RuneCountInString(t) > maxPromptTemplate {
		return invalid("prompt_template", "must be at most %d characters", maxPromptTemplate)
	}
	if err := checkLines("prompt_template", t); err != nil {
		return err
	}
	for _, m := range placeholder.FindAllStringSubmatch(t, -1) {
		if m[1] != "context" && m[1] != "user_input" {
			return invalid("prompt_template", "unknown placeholder {%s}: the placeholders are {context} and {user_input}", m[1])
		}
	}
	if !strings.Contains(t, "{user_input}") {
		return invalid("prompt_template", "must contain {user_input}, where the caller's question goes")
	}
	return nil
}

// RenderPrompt is what the provider receives as the last user message of
// an assistant with a knowledge base, for previews: template ("" = the
// built-in one) filled with context and the question.
func RenderPrompt(template, context, userInput string) string {
	return renderPrompt(template, context, userInput)
}

// renderPrompt fills a template: both placeholders in one pass, so that a
// question containing "{context}" stays the caller's text.
func renderPrompt(template, context, userInput string) string {
	if template == "" {
		template = DefaultPromptTemplate
	}
	return placeholder.ReplaceAllStringFunc(template, func(p string) string {
		switch p {
		case "{context}":
			return context
		case "{user_input}":
			return userInput
		}
		return p
	})
}

func kbToStore(kb *AssistantKB) *store.AssistantKB {
	if kb == nil {
		return nil
	}
	return &store.AssistantKB{Collections: append([]string(nil), kb.Collections...), TopK: kb.TopK, Threshold: kb.Threshold, OnError: kb.OnError}
}

func kbFromStore(kb *store.AssistantKB) *AssistantKB {
	if kb == nil {
		return nil
	}
	return &AssistantKB{Collections: append([]string(nil), kb.Collections...), TopK: kb.TopK, Threshold: kb.Threshold, OnError: kb.OnError}
}
