package store

// How the PostgreSQL store's transactions that find rows by key are
// planned. Connections plan each statement for its values
// (plan_cache_mode=force_custom_plan, OpenPostgres), from the statistics
// autovacuum last gathered. In a storm the tables grow faster than it
// analyzes them (it looks once a minute), and planned for the small
// tables they were, statements that take a few rows by key scan or hash
// whole tables. The transactions below set their own planning first, in
// the same round trip as their first statement.

// indexPlanSQL: every statement after it finds rows through an index,
// in a plan made once per connection rather than for each batch's arrays
// as constants. Set by the transactions that lock incidents (a delivery
// batch, an acknowledgement: queueLocks) and by claims. Without it, the
// lock of a delivery batch's few hundred IDs scanned every state (18 ms
// a batch among 80,000 states, instead of 0.75), and a claim's check for
// an older notification of its incident hashed the channel's whole
// queue, or compared every queued row with every other (3.4 s at 9,000).
const indexPlanSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true)`

// batchPlanSQL: a step batch's transaction, whose writes join thousands
// of array elements to rows by primary key, also joins them by a nested
// loop of index lookups. Planned for its arrays, the UPDATE took a hash
// join over a scan of the whole table, and planning the arrays as
// constants cost 6 to 12 ms a statement; the plan made once takes a
// third of the time and plans nothing per batch.
const batchPlanSQL = indexPlanSQL + `,
	set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`

// claimPlanSQL: a claim is planned as indexPlanSQL says, and walks the
// outbox's indexes by plain index scans, never bitmap ones. Between two
// passes of autovacuum (a minute apart) the outbox's indexes hold an entry
// for every notification sent since, and for every version a claim left:
// a bitmap scan of next_try <= now visited each one's heap row at every
// claim (53,660 of them, 5 ms a claim, in a storm), while an index scan
// marks those it finds dead in the index and skips them from then on.
const claimPlanSQL = indexPlanSQL + `,
	set_config('enable_bitmapscan', 'off', true)`
