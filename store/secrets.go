package store

import (
	"context"
	"fmt"
)

// OrgsWithSecrets returns up to limit organizations that hold sealed
// secrets (a signup key, or a config with sealed values), to check that
// the secret key at hand opens them.
func (q *Queries) OrgsWithSecrets(ctx context.Context, limit int) ([]Org, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+orgColumns+` FROM organizations
		WHERE signup_key_enc IS NOT NULL OR config LIKE '%enc:v1:%' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("find sealed secrets: %w", mapErr(err))
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, mapErr(rows.Err())
}
