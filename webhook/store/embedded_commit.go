package store

import (
	"context"
	"errors"
	"sync"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// errClosed is a write that arrived after Close.
var errClosed = errors.New("store is closed")

// maxGroup bounds one group commit: a larger group holds the writer
// longer than a due step should wait.
const maxGroup = 1000

// committer is group commit for the embedded store: one goroutine takes
// every write waiting and commits them in one transaction (one fsync),
// then the writes that arrived meanwhile, and so on. A lone write commits
// at once; under load the groups grow by themselves. (A batch that waits
// a fixed delay for company, as bbolt's did, only adds that delay to each
// delivery of a steady trickle.)
type committer struct {
	db   *kv.DB
	reqs chan *commitReq
	done chan struct{}

	mu     sync.RWMutex // held to send, so Close cannot close reqs under a sender
	closed bool
}

type commitReq struct {
	fn  func(*kv.Tx) error
	err chan error
}

func newCommitter(db *kv.DB) *committer {
	c := &committer{db: db, reqs: make(chan *commitReq, maxGroup), done: make(chan struct{})}
	go c.run()
	return c
}

// write runs fn in a transaction shared with other writes and returns
// once that transaction is committed (or fn failed). fn may run more than
// once: when another write of its group fails, the rest run again without it.
//
// When ctx ends first, write returns its error at once, and fn may still
// run and commit later: callers whose writes are idempotent (a delivery
// is deduplicated by its hash) use this to answer in time, and must not
// read what fn sets after such a return.
func (c *committer) write(ctx context.Context, fn func(*kv.Tx) error) error {
	r := &commitReq{fn: fn, err: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close commits what is queued and stops the goroutine.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	for r := range c.reqs {
		group := []*commitReq{r}
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		c.commit(group)
	}
}

// commit runs the group in one transaction. A write whose function fails
// gets its error and the others run again without it, so one bad write
// never fails another.
func (c *committer) commit(group []*commitReq) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *kv.Tx) error {
			for i, r := range group {
				if err := r.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			// Committed, or the commit itself failed: the same for all.
			for _, r := range group {
				r.err <- err
			}
			return
		}
		group[failed].err <- err
		group = append(group[:failed], group[failed+1:]...)
	}
}
