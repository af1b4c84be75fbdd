package action

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/secret"
)

// Action is a configured action ready to run. Its methods may be called
// concurrently: two incidents may run the same action at once.
type Action interface {
	// Describe says what Run would do with these allowed labels, for
	// dry runs and the audit ("UNLINK keys matching sess:web-1:* in
	// 127.0.0.1:6379 db 0").
	Describe(allowed map[string]string) (string, error)
	// Run does it once, within ctx's deadline and the action's timeout;
	// detail says what was done ("unlinked 42 keys matching …",
	// "HTTP 200", "exit 0").
	Run(ctx context.Context, allowed map[string]string) (detail string, err error)
	// Close releases the action's clients.
	Close() error
}

// readSecret is secret.Read: every action reads its credentials so.
var readSecret = secret.Read

// New builds the action called name from c. It validates c (field paths
// start at "actions.<name>") and reads its secrets, once, so that a
// missing secret fails at start-up rather than at the first incident.
// Clients connect at the first run.
func New(name string, c Config) (Action, error) {
	if err := c.Validate("actions." + name); err != nil {
		return nil, err
	}
	t, ok := lookupType(c.Type)
	if !ok {
		// Validate rejects every other type.
		return nil, errorf(name, "unknown type %q", c.Type)
	}
	a, err := t.build(name, &c)
	if err != nil {
		return nil, err
	}
	return bounded{Action: a, timeout: c.timeout()}, nil
}

// bounded holds every run to the action's own timeout, whatever deadline
// the caller's context has (or lacks): an action that hangs must not
// hold its incident's step.
type bounded struct {
	Action
	timeout time.Duration
}

func (b bounded) Run(ctx context.Context, allowed map[string]string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.Action.Run(ctx, allowed)
}
