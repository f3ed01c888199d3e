package service

import (
	"context"
	"time"

	"lamb/store"
)

// retentionBatch bounds each delete so the writer is never held for long.
const retentionBatch = 5000

// PurgeUsage deletes raw usage events created before t; the daily rollups
// stay, so reports and budgets are unchanged. It returns how many went.
func (s *Service) PurgeUsage(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.st.DeleteUsageBefore(ctx, before, retentionBatch)
		total += n
		if err != nil || n < retentionBatch {
			return total, err
		}
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// RunRetention purges usage events older than days now and then every
// hour, until ctx is done (LAMB_USAGE_RETENTION_DAYS). Every instance runs
// it; a round runs on one instance at a time, and an instance that finds
// another purging skips its round.
func (s *Service) RunRetention(ctx context.Context, days int) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		s.retentionRound(ctx, days)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// retentionRound purges once unless another instance is purging, and
// reports whether it did.
func (s *Service) retentionRound(ctx context.Context, days int) bool {
	var n int64
	ran, err := s.st.TryExclusive(ctx, store.LockRetention, func(ctx context.Context) error {
		var err error
		n, err = s.PurgeUsage(ctx, s.now().AddDate(0, 0, -days))
		return err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("purge old usage events", "err", err)
	case !ran:
		s.log.Debug("another instance is purging old usage events; skipping this round")
	case n > 0:
		s.log.Info("purged old usage events", "events", n, "older_than_days", days)
	}
	return ran
}
