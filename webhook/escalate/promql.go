package escalate

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Querier is what actions' preconditions and post-checks ask of
// Prometheus: its HTTP API's instant query (client_golang's v1.API).
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// promQueryTimeout bounds one query.
const promQueryTimeout = 10 * time.Second

// promHolds asks Prometheus the query: it holds when it returns at
// least one sample (a vector or matrix with series, a scalar not 0).
func (e *Engine) promHolds(ctx context.Context, query string) (bool, error) {
	if e.Prometheus == nil {
		return false, fmt.Errorf("no prometheus is configured")
	}
	qctx, cancel := context.WithTimeout(ctx, promQueryTimeout)
	defer cancel()
	v, _, _, err := e.Prometheus.Query(qctx, query, time.Now())
	if err != nil {
		return false, err
	}
	switch v := v.(type) {
	case model.Vector:
		return len(v) > 0, nil
	case model.Matrix:
		return len(v) > 0, nil
	case *model.Scalar:
		return v.Value != 0, nil
	}
	return false, fmt.Errorf("query returned a %s, not a vector", v.Type())
}

// recovered asks the query every few seconds until it holds or within
// has passed; after is how long it took.
func (e *Engine) recovered(ctx context.Context, query string, within time.Duration) (ok bool, after time.Duration, err error) {
	began := time.Now()
	every := min(max(within/20, time.Second), 15*time.Second)
	for {
		ok, err = e.promHolds(ctx, query)
		if ok {
			return true, time.Since(began), nil
		}
		if time.Since(began)+every > within || ctx.Err() != nil {
			return false, time.Since(began), err
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}
