package store

import (
	"context"
	"fmt"
)

// nextID takes the next id of a table from id_sequences, so that an id is
// never given twice even after its row is deleted (see migration 0004).
func (q *Queries) nextID(ctx context.Context, table string) (int64, error) {
	var id int64
	err := q.w.QueryRowContext(ctx, `UPDATE id_sequences SET last = last + 1 WHERE name = ? RETURNING last`, table).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("next %s id: %w", table, mapErr(err))
	}
	return id, nil
}
