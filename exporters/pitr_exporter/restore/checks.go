package restore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
)

// checkTimeout bounds each check query; the whole test's deadline bounds
// them all.
const checkTimeout = 5 * time.Minute

// RunChecks runs the configured queries on the recovered server; target
// is what recovery reached: the target time, or the end of the backup
// restored (timestamp checks and $1 are against it).
func RunChecks(ctx context.Context, srv *Server, checks []config.Check, target time.Time) []CheckResult {
	out := make([]CheckResult, 0, len(checks))
	for _, c := range checks {
		out = append(out, runCheck(ctx, srv, c, target))
	}
	return out
}

func runCheck(ctx context.Context, srv *Server, c config.Check, target time.Time) CheckResult {
	res := CheckResult{Name: c.Name}
	db := c.Database
	if db == "" {
		db = "postgres"
	}
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	conn, err := srv.Connect(cctx, db)
	if err != nil {
		res.Message = fmt.Sprintf("connecting to %s: %v", db, err)
		return res
	}
	defer conn.Close(context.Background())
	var args []any
	if strings.Contains(c.SQL, "$1") {
		var t *time.Time
		if !target.IsZero() {
			t = &target
		}
		args = append(args, t)
	}
	var v any
	// The server is a paused standby: nothing can write, and the
	// transaction says so as well.
	err = pgx.BeginTxFunc(cctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(cctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", checkTimeout.Milliseconds())); err != nil {
			return err
		}
		return tx.QueryRow(cctx, c.SQL, args...).Scan(&v)
	})
	if err != nil {
		res.Message = fmt.Sprintf("query: %v", err)
		return res
	}
	res.Value, res.Message = judge(c, v, target)
	res.OK = res.Message == ""
	return res
}

// judge formats a check's value and says what is wrong with it, if
// anything.
func judge(c config.Check, v any, target time.Time) (string, string) {
	switch x := v.(type) {
	case nil:
		if c.Min != nil || c.MaxBeforeTarget > 0 {
			return "NULL", "returned NULL"
		}
		return "NULL", ""
	case time.Time:
		val := x.UTC().Format(time.RFC3339Nano)
		if c.Min != nil {
			return val, "returned a timestamp; min is for numbers"
		}
		if target.IsZero() {
			return val, ""
		}
		if c.NotAfterTarget && x.After(target) {
			return val, fmt.Sprintf("%s is after the target %s: recovery replayed past it", val, target.UTC().Format(time.RFC3339Nano))
		}
		if d := time.Duration(c.MaxBeforeTarget); d > 0 && target.Sub(x) > d {
			return val, fmt.Sprintf("%s is %s before the target, more than %s", val, target.Sub(x).Round(time.Millisecond), d)
		}
		return val, ""
	}
	f, ok := number(v)
	if !ok {
		return fmt.Sprint(v), fmt.Sprintf("returned %T; want a number or a timestamp", v)
	}
	val := strconv.FormatFloat(f, 'f', -1, 64)
	if c.NotAfterTarget || c.MaxBeforeTarget > 0 {
		return val, "returned a number; not_after_target and max_before_target are for timestamps"
	}
	if math.IsNaN(f) && c.Min != nil {
		return val, "returned NaN"
	}
	if c.Min != nil && f < *c.Min {
		return val, fmt.Sprintf("%s is below the minimum %s", val, strconv.FormatFloat(*c.Min, 'f', -1, 64))
	}
	return val, ""
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case pgtype.Numeric:
		f, err := x.Float64Value()
		return f.Float64, err == nil && f.Valid
	}
	return 0, false
}
