package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
)

// Save writes a result to the repository's bucket: the kind's record (the
// last attempt and the last success, which every pitr_exporter reads) and
// the run's own object under history/. A record that cannot be read is
// replaced (the error says so), so one bad object does not stop the
// tests from being recorded.
func Save(ctx context.Context, st *s3store.Store, prefix string, r Result) error {
	var prev Record
	var warn error
	data, err := st.GetIfExists(ctx, Key(prefix, r.Kind), 1<<20)
	switch {
	case err == nil:
		if prev, err = ParseRecord(data); err != nil {
			warn = fmt.Errorf("replaced an unreadable record: %w", err)
		}
	case errors.Is(err, s3store.ErrNotFound):
	default:
		return err // not knowing the last success, writing would lose it
	}
	run, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	if err := st.Put(ctx, HistoryKey(prefix, r), run, "application/json"); err != nil {
		return err
	}
	rec, err := json.MarshalIndent(prev.Next(r), "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the record: %w", err)
	}
	if err := st.Put(ctx, Key(prefix, r.Kind), rec, "application/json"); err != nil {
		return err
	}
	return warn
}
