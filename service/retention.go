package service

import (
	"context"
	"time"
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
// hour, until ctx is done (LAMB_USAGE_RETENTION_DAYS).
func (s *Service) RunRetention(ctx context.Context, days int) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		before := s.now().AddDate(0, 0, -days)
		n, err := s.PurgeUsage(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("purge old usage events", "err", err)
		case n > 0:
			s.log.Info("purged old usage events", "events", n, "older_than_days", days)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
