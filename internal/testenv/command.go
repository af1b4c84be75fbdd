package testenv

import (
	"fmt"
	"os"
	"sync"
)

// Command is the TB of a program that starts servers of this package (the
// demo, escalator-load): cleanups run in reverse at Teardown, and a fatal
// error runs them before the program exits 1.
type Command struct {
	Name string
	// Log, when set, receives Logf's lines; nil drops them.
	Log func(line string)

	mu       sync.Mutex
	cleanups []func()
}

// Helper implements TB.
func (*Command) Helper() {}

// Cleanup implements TB.
func (c *Command) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

// Logf implements TB.
func (c *Command) Logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, args...))
	}
}

// Fatalf implements TB: the error on stderr, the cleanups, exit 1.
func (c *Command) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, c.Name+": "+format+"\n", args...)
	c.Teardown()
	os.Exit(1)
}

// Skipf implements TB: a program cannot skip, so it is fatal.
func (c *Command) Skipf(format string, args ...any) { c.Fatalf(format, args...) }

// Teardown runs the cleanups registered so far, the last first.
func (c *Command) Teardown() {
	c.mu.Lock()
	cs := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}
