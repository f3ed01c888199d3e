package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"lamb/config"
	"lamb/knowledge"
	"lamb/store"
)

// Source is where a chunk of retrieved context came from, returned to the
// caller with the answer (DESIGN §11).
type Source struct {
	Collection string  `json:"collection"`
	Similarity float64 `json:"similarity"`
	Title      string  `json:"title,omitempty"`
	URL        string  `json:"url,omitempty"`
}

// KBUnavailable is ChatAnswer.KB when the knowledge base failed and the
// assistant answers without context (on_error continue).
const KBUnavailable = "unavailable"

// retrieval is what a call's knowledge-base step produced.
type retrieval struct {
	index       int             // the last user message, whose content is replaced
	content     json.RawMessage // its new content; nil: unchanged
	added       int             // characters lamb added to the prompt
	sources     []Source
	took        time.Duration
	unavailable bool // failed, and the assistant answers without context
}

// stamp records the retrieval in a usage event; nothing without one.
func (r *retrieval) stamp(e *store.UsageEvent) {
	if r == nil {
		return
	}
	e.Retrieved, e.KBMS, e.KBChunks = true, r.took.Milliseconds(), int64(len(r.sources))
}

// lambObject is the top-level "lamb" member added to an answer.
func (r *retrieval) lambObject() json.RawMessage {
	sources := r.sources
	if sources == nil {
		sources = []Source{}
	}
	return mustJSON(map[string]any{"sources": sources})
}

// errKB is a knowledge base that failed: the caller learns which setting
// to have checked, the log what exactly failed.
func errKB(orgSlug, setup string, cause error) *GatewayError {
	return &GatewayError{Status: 502, Type: "api_error", Code: "knowledge_base_unavailable", usage: "kb_error", cause: cause,
		Message: fmt.Sprintf("the assistant's knowledge base did not answer, so the question was not sent to the AI provider; "+
			"an admin of organization %s must check setups.%s.knowledge_base", orgSlug, setup)}
}

// lastUserText is the last user message and its text: the content when
// it is a string, the text parts joined when it is a list of parts.
func lastUserText(req *ChatRequest) (int, string) {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			return i, s
		}
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(m.Content, &parts) != nil {
			return i, ""
		}
		var texts []string
		for _, p := range parts {
			if p.Type == "text" && p.Text != "" {
				texts = append(texts, p.Text)
			}
		}
		return i, strings.Join(texts, "\n")
	}
	return -1, ""
}

// retrieve runs the knowledge-base step of a call (DESIGN §7, between
// routing and admission): it queries every collection of the assistant
// in parallel, within one time bound, from the knowledge base of the
// setup that serves it — the org's own, never another's — and places what
// it found in the last user message with the assistant's template.
func (s *Service) retrieve(ctx context.Context, cl *call, kb *config.KnowledgeBase, req *ChatRequest) error {
	akb := cl.assistant.KnowledgeBase
	idx, question := lastUserText(req)
	cl.rag = &retrieval{index: idx}
	if idx < 0 || strings.TrimSpace(question) == "" {
		return nil // nothing to look up
	}
	started := time.Now()
	hits, err := s.query(ctx, kb, akb.Collections, question, akb.TopK, akb.Threshold)
	cl.rag.took = time.Since(started)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx) // the caller left
		}
		if akb.OnError == KBContinue {
			cl.rag.unavailable = true
			s.log.Warn("knowledge base failed; answering without context", "org", cl.orgSlug, "setup", cl.setup,
				"assistant", cl.assistant.ID, "err", err)
			return nil
		}
		return errKB(cl.orgSlug, cl.setup, err)
	}
	base := ""
	if kb != nil {
		base = strings.TrimRight(knowledge.Redact(kb.URL), "/")
	}
	chunks := make([]string, 0, len(hits))
	for _, h := range hits {
		chunks = append(chunks, h.r.Data)
		cl.rag.sources = append(cl.rag.sources, sourceOf(base, h))
	}
	rendered := renderPrompt(cl.assistant.PromptTemplate, strings.Join(chunks, "\n\n"), question)
	cl.rag.added = len(rendered) - len(question)
	cl.rag.content = newContent(req.Messages[idx].Content, rendered)
	return nil
}

type hit struct {
	collection string
	r          knowledge.Result
}

// query asks every collection at once and merges the answers by
// similarity, keeping topK. Any collection failing fails the whole.
func (s *Service) query(ctx context.Context, kb *config.KnowledgeBase, collections []string, question string, topK int, threshold float64) ([]hit, error) {
	if kb == nil || kb.URL == "" {
		return nil, errors.New("the setup has no knowledge base (it was removed after the assistant was saved)")
	}
	srv := knowledge.Server{URL: kb.URL, Token: kb.APIToken}
	qctx, cancel := context.WithTimeout(ctx, s.kbTimeout)
	defer cancel()
	type answer struct {
		collection string
		results    []knowledge.Result
		err        error
	}
	answers := make(chan answer, len(collections)) // buffered: no sender waits after a failure
	for _, c := range collections {
		go func() {
			rs, err := knowledge.Query(qctx, s.providers.HTTP(), srv, c, question, topK, threshold)
			answers <- answer{c, rs, err}
		}()
	}
	var hits []hit
	for range collections {
		a := <-answers
		if a.err != nil {
			return nil, fmt.Errorf("collection %s: %w", a.collection, a.err)
		}
		for _, r := range a.results {
			if r.Similarity >= threshold { // a server may not apply it
				hits = append(hits, hit{a.collection, r})
			}
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].r.Similarity > hits[j].r.Similarity })
	if len(hits) > topK {
		hits = hits[:topK]
	}
	return hits, nil
}

// sourceOf names a chunk's document: title from the metadata's filename
// or title, URL from its file_url (or original_file_url) on the knowledge
// base, or its source_url.
func sourceOf(base string, h hit) Source {
	str := func(k string) string { v, _ := h.r.Metadata[k].(string); return v }
	src := Source{Collection: h.collection, Similarity: h.r.Similarity, Title: str("filename")}
	if src.Title == "" {
		src.Title = str("title")
	}
	file := str("file_url")
	if file == "" {
		file = str("original_file_url")
	}
	switch {
	case file != "" && isAbsURL(file):
		src.URL = file
	case file != "" && base != "":
		src.URL = base + "/" + strings.TrimLeft(file, "/")
	case isAbsURL(str("source_url")):
		src.URL = str("source_url")
	}
	return src
}

func isAbsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// newContent is a user message's content with its text replaced by
// rendered: a string stays a string; a list of parts keeps its other parts
// (images) after one text part.
func newContent(old json.RawMessage, rendered string) json.RawMessage {
	var parts []json.RawMessage
	if json.Unmarshal(old, &parts) != nil {
		return mustJSON(rendered)
	}
	out := []json.RawMessage{mustJSON(map[string]string{"type": "text", "text": rendered})}
	for _, p := range parts {
		var kind struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(p, &kind) == nil && kind.Type == "text" {
			continue
		}
		out = append(out, p)
	}
	return mustJSON(out)
}

// replaceContent returns the messages array with message i's content
// replaced; the message's other fields are kept.
func replaceContent(msgs json.RawMessage, i int, content json.RawMessage) json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(msgs, &list) != nil || i < 0 || i >= len(list) {
		return msgs
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(list[i], &m) != nil {
		return msgs
	}
	m["content"] = content
	list[i] = mustJSON(m)
	return mustJSON(list)
}

// withLamb adds the top-level "lamb" member to a JSON object answer; the
// rest of the answer is kept byte for byte.
func withLamb(body []byte, lamb json.RawMessage) []byte {
	t := bytes.TrimSpace(body)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return body
	}
	start, end := bytes.IndexByte(body, '{'), bytes.LastIndexByte(body, '}')
	out := make([]byte, 0, len(body)+len(lamb)+10)
	out = append(out, body[:end]...)
	if len(bytes.TrimSpace(body[start+1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(append(append(out, `"lamb":`...), lamb...), '}')
	return append(out, body[end+1:]...)
}

// lambChunk is the last event of a stream for an assistant with a
// knowledge base: a chunk without choices, carrying the sources.
func lambChunk(lamb json.RawMessage) []byte {
	return append(append([]byte(`{"object":"chat.completion.chunk","choices":[],"lamb":`), lamb...), '}')
}
