package action

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/common/model"
)

var failoverType = actionType{
	name: TypePostgresFailover,
	keys: []string{"primary_dsn_file", "primary_dsn_env", "standby_dsn_file", "standby_dsn_env", "other_dsn_files",
		"unreachable_for", "max_lag", "max_lag_bytes"},
	validate: validateFailover,
	build:    newFailover,
}

// Defaults and bounds of postgres_failover.
const (
	DefaultUnreachableFor = 30 * time.Second
	MinUnreachableFor     = 5 * time.Second
	DefaultMaxLag         = 10 * time.Second
	DefaultMaxLagBytes    = 16 << 20
	// FailoverMargin is what a run needs besides watching the primary
	// (the checks before and after, the promotion): the action's timeout
	// must exceed unreachable_for by more.
	FailoverMargin = 30 * time.Second
)

const (
	// probeTimeout bounds each check of a node (connect and one query):
	// a node that does not answer within it counts as unreachable.
	probeTimeout = 2 * time.Second
	// probeEvery is how often the primary is checked while it is watched.
	probeEvery = time.Second
	// promoteWait is pg_promote's wait_seconds (the run's deadline may
	// cut it shorter).
	promoteWait = 60
)

// lagSQL measures the standby's replay lag: the WAL received and not yet
// replayed, in bytes, and, only when there is some, the age of the last
// transaction replayed (with nothing left to replay the standby is as
// current as the WAL it has, however old its last transaction). A
// receive LSN behind the replay LSN (WAL replayed from pg_wal or the
// archive) is nothing left to replay. NULLs, for the caller to refuse:
// the first column when the standby never streamed (its lag cannot be
// known), the third when no transaction was replayed since it started.
const lagSQL = `SELECT pg_last_wal_receive_lsn() IS NOT NULL,
	COALESCE(GREATEST(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint,
	CASE WHEN pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()
		THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
		ELSE 0 END`

func (c *Config) unreachableFor() time.Duration {
	if c.UnreachableFor <= 0 {
		return DefaultUnreachableFor
	}
	return time.Duration(c.UnreachableFor)
}

func (c *Config) maxLag() time.Duration {
	if c.MaxLag <= 0 {
		return DefaultMaxLag
	}
	return time.Duration(c.MaxLag)
}

func (c *Config) maxLagBytes() int64 {
	if c.MaxLagBytes <= 0 {
		return DefaultMaxLagBytes
	}
	return int64(c.MaxLagBytes)
}

func validateFailover(c *Config, v *checker) {
	// validateCommon reports an empty or unknown category.
	if slices.Contains(categories, c.Category) && c.Category != CategoryMajor {
		v.Field("category", "type %s is a major change (it needs an approval): set category: %s, got %q", c.Type, CategoryMajor, c.Category)
	}
	v.Secret("primary_dsn", c.PrimaryDSNFile, c.PrimaryDSNEnv, true)
	v.Secret("standby_dsn", c.StandbyDSNFile, c.StandbyDSNEnv, true)
	if c.PrimaryDSNFile != "" && c.PrimaryDSNFile == c.StandbyDSNFile {
		v.Field("standby_dsn_file", "is primary_dsn_file: the standby must be another server")
	}
	seen := map[string]bool{}
	for i, f := range c.OtherDSNFiles {
		switch {
		case f == "":
			v.Field("other_dsn_files", "element %d: needs the file", i)
		case seen[f]:
			v.Field("other_dsn_files", "%q listed twice", f)
		case f == c.PrimaryDSNFile || f == c.StandbyDSNFile:
			v.Field("other_dsn_files", "%q is the primary's or the standby's DSN: list only the other nodes", f)
		}
		seen[f] = true
	}
	switch {
	case c.UnreachableFor < 0:
		v.Field("unreachable_for", "must not be negative")
	case c.UnreachableFor != 0 && time.Duration(c.UnreachableFor) < MinUnreachableFor:
		v.Field("unreachable_for", "at least %s, got %s", model.Duration(MinUnreachableFor), c.UnreachableFor)
	}
	if c.MaxLag < 0 {
		v.Field("max_lag", "must not be negative")
	}
	if c.MaxLagBytes < 0 {
		v.Field("max_lag_bytes", "must not be negative")
	}
	// validateCommon reports a negative timeout or one past MaxTimeout.
	if c.Timeout >= 0 && time.Duration(c.Timeout) <= MaxTimeout {
		if need := c.unreachableFor() + FailoverMargin; c.timeout() <= need {
			got := c.Timeout.String()
			if c.Timeout == 0 {
				got = model.Duration(DefaultTimeout).String() + " (the default)"
			}
			v.Field("timeout", "must be more than unreachable_for + %s (%s) for type %s: the primary is watched for unreachable_for, then checked again and the standby promoted; got %s",
				model.Duration(FailoverMargin), model.Duration(need), c.Type, got)
		}
	}
}

// pgNode is one server of the cluster, as its DSN names it. The DSN is
// a secret: messages name the node by addr only.
type pgNode struct {
	role string // "primary", "standby", "other node"
	addr string // host:port
	cfg  *pgx.ConnConfig
}

func (n *pgNode) String() string { return n.role + " " + n.addr }

type failoverAction struct {
	name           string
	primary        *pgNode
	standby        *pgNode
	others         []*pgNode
	unreachableFor time.Duration
	maxLag         time.Duration
	maxLagBytes    int64
}

func newFailover(name string, c *Config) (Action, error) {
	a := &failoverAction{name: name, unreachableFor: c.unreachableFor(), maxLag: c.maxLag(), maxLagBytes: c.maxLagBytes()}
	var err error
	if a.primary, err = loadNode(name, "primary", "primary_dsn", c.PrimaryDSNFile, c.PrimaryDSNEnv); err != nil {
		return nil, err
	}
	if a.standby, err = loadNode(name, "standby", "standby_dsn", c.StandbyDSNFile, c.StandbyDSNEnv); err != nil {
		return nil, err
	}
	if a.standby.addr == a.primary.addr {
		return nil, errorf(name, "the standby and the primary are the same server, %s", a.primary.addr)
	}
	seen := map[string]bool{a.primary.addr: true, a.standby.addr: true}
	for _, f := range c.OtherDSNFiles {
		n, err := loadNode(name, "other node", "other_dsn_files", f, "")
		if err != nil {
			return nil, err
		}
		if seen[n.addr] {
			return nil, errorf(name, "other_dsn_files: %s names %s, which is listed already (the primary, the standby or another node)", f, n.addr)
		}
		seen[n.addr] = true
		a.others = append(a.others, n)
	}
	return a, nil
}

// loadNode reads and parses one DSN. It must name a single server: with
// several hosts, the server checked and the server promoted could differ.
func loadNode(name, role, key, file, env string) (*pgNode, error) {
	from := key + "_file " + file
	switch {
	case key == "other_dsn_files":
		from = "other_dsn_files " + file
	case file == "":
		from = key + "_env " + env
	}
	dsn, err := readSecret(file, env)
	if err != nil {
		return nil, errorf(name, "%s: %w", key, err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's error repeats the DSN (less its password, not less
		// everything else it may hold): say only where it came from.
		return nil, errorf(name, "the DSN in %s is not a valid PostgreSQL connection string", from)
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	for _, fb := range cfg.Fallbacks {
		// sslmode=prefer is a fallback to the same server: fine.
		if fb.Host != cfg.Host || fb.Port != cfg.Port {
			return nil, errorf(name, "the DSN in %s names more than one server: name exactly one", from)
		}
	}
	return &pgNode{role: role, addr: addr, cfg: cfg}, nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func (a *failoverAction) Describe(map[string]string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "promote standby %s if primary %s stays unreachable for %s and lag ≤ %s / %s",
		a.standby.addr, a.primary.addr, model.Duration(a.unreachableFor), model.Duration(a.maxLag), formatBytes(a.maxLagBytes))
	if len(a.others) > 0 {
		addrs := make([]string, len(a.others))
		for i, n := range a.others {
			addrs[i] = n.addr
		}
		fmt.Fprintf(&b, " and none of %s is a primary", strings.Join(addrs, ", "))
	}
	return b.String(), nil
}

func (a *failoverAction) Close() error { return nil }

// connectNode opens a connection to n within probeTimeout.
func connectNode(ctx context.Context, n *pgNode) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return pgx.ConnectConfig(cctx, n.cfg)
}

// queryRow runs a query of one row on c within probeTimeout.
func queryRow(ctx context.Context, c *pgx.Conn, sql string, dest ...any) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return c.QueryRow(ctx, sql).Scan(dest...)
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// nodeInRecovery connects to n and asks pg_is_in_recovery(), all within
// probeTimeout.
func nodeInRecovery(ctx context.Context, n *pgNode) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, n.cfg)
	if err != nil {
		return false, err
	}
	defer closeConn(c)
	var rec bool
	err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec)
	return rec, err
}

// pingNode is one check of the primary: connect and SELECT 1 within
// probeTimeout.
func pingNode(ctx context.Context, n *pgNode) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, n.cfg)
	if err != nil {
		return err
	}
	defer closeConn(c)
	var one int
	return c.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// answered says whether err came from the server itself: a server that
// refuses a login, has too many connections or is starting up or
// shutting down is there all the same, and may be a primary.
func answered(err error) (*pgconn.PgError, bool) {
	var pgErr *pgconn.PgError
	ok := errors.As(err, &pgErr)
	return pgErr, ok
}

// pgReason is err for a message: what went wrong, never the DSN (pgx's
// connect errors name the user and database; their causes only the
// address).
func pgReason(err error) string {
	if pgErr, ok := answered(err); ok {
		return fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "no answer in time"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if inner := errors.Unwrap(ce); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

func stamp(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z07:00") }

// Run promotes the standby, or refuses with an error saying why: every
// check that fails, and every doubt, is a refusal, since two primaries
// are worse than none.
func (a *failoverAction) Run(ctx context.Context, _ map[string]string) (string, error) {
	// (1) The standby is there and is a standby. Its connection is kept
	// for the lag and the promotion: the server measured is the one
	// promoted.
	sb, err := connectNode(ctx, a.standby)
	if err != nil {
		return "", errorf(a.name, "%s is unreachable (%s): not failing over", a.standby, pgReason(err))
	}
	defer closeConn(sb)
	var rec bool
	if err := queryRow(ctx, sb, "SELECT pg_is_in_recovery()", &rec); err != nil {
		return "", errorf(a.name, "%s: checking pg_is_in_recovery(): %s: not failing over", a.standby, pgReason(err))
	}
	if !rec {
		return "", errorf(a.name, "%s is not in recovery: already promoted? not failing over", a.standby)
	}

	// (2) No other node of the cluster is a primary.
	if err := a.checkOthers(ctx); err != nil {
		return "", err
	}

	// (3) The primary failed every check for the whole of unreachable_for.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < a.unreachableFor+probeTimeout {
			return "", errorf(a.name, "only %s of the run's time left, and watching the primary takes %s: not failing over",
				left.Round(time.Millisecond), model.Duration(a.unreachableFor))
		}
	}
	since, err := a.watchPrimary(ctx)
	if err != nil {
		return "", err
	}

	// (4a) The standby no longer streams from the primary: if it still
	// does, the primary is alive and only escalator lost it (a network
	// partition), and promoting would make two primaries. A primary that
	// hangs is seen so once the standby's wal_receiver_timeout (60s by
	// default) passes: unreachable_for should be longer.
	var receiving string
	if err := queryRow(ctx, sb, `SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), '')`, &receiving); err != nil {
		return "", errorf(a.name, "%s: reading its WAL receiver: %s: not failing over", a.standby, pgReason(err))
	}
	if receiving == "streaming" {
		return "", errorf(a.name, "%s still streams WAL from the primary, which escalator cannot reach: a partition, not a failure; not failing over", a.standby)
	}

	// (4) The standby's lag, measured now: it changed while we waited.
	var streamed bool
	var lagBytes int64
	var lagSecs *float64
	if err := queryRow(ctx, sb, lagSQL, &streamed, &lagBytes, &lagSecs); err != nil {
		return "", errorf(a.name, "%s: measuring the replay lag: %s: not failing over", a.standby, pgReason(err))
	}
	if !streamed {
		return "", errorf(a.name, "%s has received no WAL by streaming since it started: its lag cannot be measured: not failing over", a.standby)
	}
	if lagBytes > a.maxLagBytes {
		return "", errorf(a.name, "%s has %s of WAL received and not replayed, over max_lag_bytes %s: not failing over",
			a.standby, formatBytes(lagBytes), formatBytes(a.maxLagBytes))
	}
	if lagSecs == nil {
		return "", errorf(a.name, "%s has %s of WAL to replay and has replayed no transaction since it started: its replay lag cannot be measured: not failing over",
			a.standby, formatBytes(lagBytes))
	}
	lag := time.Duration(*lagSecs * float64(time.Second)).Round(time.Millisecond)
	if lag > a.maxLag {
		return "", errorf(a.name, "%s replays %s behind, over max_lag %s: not failing over", a.standby, lag, model.Duration(a.maxLag))
	}

	// (5) Right before promoting: the primary is still gone, and no
	// other node became a primary while we waited.
	if err := pingNode(ctx, a.primary); err == nil {
		return "", errorf(a.name, "primary answered at %s (the last check before promoting): not failing over", stamp(time.Now()))
	} else if pgErr, ok := answered(err); ok {
		return "", errorf(a.name, "primary answered at %s (the last check before promoting), with %s: not failing over", stamp(time.Now()), pgReason(pgErr))
	} else if ctx.Err() != nil {
		return "", errorf(a.name, "cut off before promoting: %s: not failing over", pgReason(ctx.Err()))
	}
	if err := a.checkOthers(ctx); err != nil {
		return "", err
	}
	span := time.Since(since).Truncate(time.Second)

	// (6) Promote.
	var done bool
	if err := sb.QueryRow(ctx, "SELECT pg_promote(true, "+strconv.Itoa(promoteWait)+")").Scan(&done); err != nil {
		return "", errorf(a.name, "%s: pg_promote: %s: the promotion may have been requested: check the standby by hand", a.standby, pgReason(err))
	}
	if !done {
		return "", errorf(a.name, "%s: pg_promote did not finish within %ds: the promotion is requested: check the standby by hand", a.standby, promoteWait)
	}

	// (7) It is a primary now.
	if err := queryRow(ctx, sb, "SELECT pg_is_in_recovery()", &rec); err != nil {
		return "", errorf(a.name, "%s: checking pg_is_in_recovery() after pg_promote: %s: check the standby by hand", a.standby, pgReason(err))
	}
	if rec {
		return "", errorf(a.name, "%s is still in recovery after pg_promote returned: check the standby by hand", a.standby)
	}
	return fmt.Sprintf("promoted %s after the primary was unreachable for %s; replay lag %s / %s",
		a.standby.addr, model.Duration(span), formatBytes(lagBytes), lag), nil
}

// checkOthers refuses if any other node is a primary: each must be
// unreachable, or reachable and in recovery. One that answers but cannot
// say (a login refused, a query failing) is a refusal too.
func (a *failoverAction) checkOthers(ctx context.Context) error {
	for _, n := range a.others {
		rec, err := nodeInRecovery(ctx, n)
		switch {
		case err == nil && !rec:
			return errorf(a.name, "%s is not in recovery: another primary exists: not failing over", n)
		case err == nil:
			continue
		case ctx.Err() != nil:
			return errorf(a.name, "cut off while checking %s: %s: not failing over", n, pgReason(ctx.Err()))
		}
		if _, ok := answered(err); ok {
			return errorf(a.name, "%s answered but could not say whether it is a primary (%s): not failing over", n, pgReason(err))
		}
		// Unreachable: it cannot be a primary anyone writes to through
		// escalator's network, which is all escalator can know.
	}
	return nil
}

// watchPrimary checks the primary every probeEvery until unreachable_for
// has passed since the first check, and returns the time of the first
// check if every one of them failed.
func (a *failoverAction) watchPrimary(ctx context.Context) (time.Time, error) {
	start := time.Now()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for n := 1; ; n++ {
		at := time.Now()
		err := pingNode(ctx, a.primary)
		if err == nil {
			return start, errorf(a.name, "primary answered at %s: not failing over", stamp(at))
		}
		if pgErr, ok := answered(err); ok {
			// A server that answers with an error is up.
			return start, errorf(a.name, "primary answered at %s, with %s: not failing over", stamp(at), pgReason(pgErr))
		}
		if ctx.Err() != nil {
			return start, errorf(a.name, "cut off after %d checks of the primary (%s): %s: not failing over",
				n, time.Since(start).Round(time.Millisecond), pgReason(ctx.Err()))
		}
		if at.Sub(start) >= a.unreachableFor {
			return start, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return start, errorf(a.name, "cut off after %d checks of the primary: %s: not failing over", n, pgReason(ctx.Err()))
		}
	}
}
