package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"lamb/config"
	"lamb/knowledge"
	"lamb/store"
)

// KBCollection is a collection of an org's knowledge base.
type KBCollection struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// KBResult is a chunk a trial query found, with where it came from.
type KBResult struct {
	Source
	Data string `json:"data"`
}

// maxKBQuery bounds the text of a trial query.
const maxKBQuery = 10_000

// kbForAdmin loads the knowledge base of a setup ("" = the active one)
// of an org the actor administers.
func (s *Service) kbForAdmin(ctx context.Context, a Actor, slug, setup string) (store.Org, *config.KnowledgeBase, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return store.Org{}, nil, err
	}
	c, err := s.openConfig(o)
	if err != nil {
		return store.Org{}, nil, err
	}
	if setup == "" {
		setup = c.ActiveSetup
	}
	st, ok := c.Setups[setup]
	if !ok {
		return store.Org{}, nil, notFound("setup %q", setup)
	}
	if st.KnowledgeBase == nil || st.KnowledgeBase.URL == "" {
		return store.Org{}, nil, invalid("knowledge_base.url", "setup %s of %s has no knowledge base; set setups.%s.knowledge_base first", setup, o.Slug, setup)
	}
	return o, st.KnowledgeBase, nil
}

// kbFailed is a knowledge-base failure told to an admin of the org:
// where it is (without credentials) and what it answered.
func kbFailed(err error) error {
	var ke *knowledge.Error
	if errors.As(err, &ke) {
		return fmt.Errorf("%w: %s", ErrKnowledgeBase, ke.Message)
	}
	return err
}

// KBCollections lists the collections of an org's knowledge base, for an
// admin of the org or a system admin.
func (s *Service) KBCollections(ctx context.Context, a Actor, slug, setup string) ([]KBCollection, error) {
	_, kb, err := s.kbForAdmin(ctx, a, slug, setup)
	if err != nil {
		return nil, err
	}
	return s.collections(ctx, kb)
}

// collections lists a knowledge base's collections within kbTimeout,
// leaving out any whose text a terminal would act on.
func (s *Service) collections(ctx context.Context, kb *config.KnowledgeBase) ([]KBCollection, error) {
	qctx, cancel := context.WithTimeout(ctx, s.kbTimeout)
	defer cancel()
	list, err := knowledge.Collections(qctx, s.providers.HTTP(), knowledge.Server{URL: kb.URL, Token: kb.APIToken})
	if err != nil {
		return nil, kbFailed(err)
	}
	out := make([]KBCollection, 0, len(list))
	for _, c := range list {
		// Names come from a network peer and are drawn on terminals.
		if checkText("name", c.ID+c.Name+c.Description) != nil {
			continue
		}
		out = append(out, KBCollection{ID: c.ID, Name: c.Name, Description: c.Description})
	}
	return out, nil
}

// KBQuery tries retrieval from one collection of an org's knowledge base
// as an assistant would, for an admin of the org or a system admin.
func (s *Service) KBQuery(ctx context.Context, a Actor, slug, setup, collection, text string, topK int) ([]KBResult, error) {
	collection = strings.TrimSpace(collection)
	if !collectionID.MatchString(collection) {
		return nil, invalid("collection", "%q is not a collection id: want 1-100 characters of letters, digits, '.', '_' and '-'", collection)
	}
	if strings.TrimSpace(text) == "" {
		return nil, invalid("text", "is required: the question to look up")
	}
	if utf8.RuneCountInString(text) > maxKBQuery {
		return nil, invalid("text", "must be at most %d characters", maxKBQuery)
	}
	if topK == 0 {
		topK = DefaultTopK
	}
	if topK < 1 || topK > maxTopK {
		return nil, invalid("top_k", "must be between 1 and %d", maxTopK)
	}
	_, kb, err := s.kbForAdmin(ctx, a, slug, setup)
	if err != nil {
		return nil, err
	}
	hits, err := s.query(ctx, kb, []string{collection}, text, topK, 0)
	if err != nil {
		return nil, kbFailed(err)
	}
	base := strings.TrimRight(knowledge.Redact(kb.URL), "/")
	out := make([]KBResult, 0, len(hits))
	for _, h := range hits {
		out = append(out, KBResult{Source: sourceOf(base, h), Data: h.r.Data})
	}
	return out, nil
}

// KBChoices lists the collections of the knowledge base of the actor's
// org's active setup, for assistant forms: any signed-in user of the org
// may pick from them. None when the setup has no knowledge base.
func (s *Service) KBChoices(ctx context.Context, a Actor) ([]KBCollection, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return nil, ErrForbidden
	}
	cfg, _, _, err := s.orgConfig(ctx, a.OrgID)
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	st, ok := cfg.Setup("")
	if !ok || st.KnowledgeBase == nil || st.KnowledgeBase.URL == "" {
		return []KBCollection{}, nil
	}
	cs, err := s.collections(ctx, st.KnowledgeBase)
	if err != nil && requireOrgAdmin(a, a.OrgID) != nil {
		// The details name the org's internal address: its admins' to see.
		return nil, fmt.Errorf("%w: ask an admin of your organization to check it", ErrKnowledgeBase)
	}
	return cs, err
}
