package action

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

var execType = actionType{
	name:     TypeExec,
	keys:     []string{"command", "env"},
	validate: validateExec,
	build:    newExec,
}

// childPath is the whole search path of a child: it gets nothing of
// escalator's environment, whose variables may hold secrets (the *_env
// settings read them from there).
const childPath = "PATH=/usr/bin:/bin"

// maxOutput bounds the output kept for the detail of a failed run.
const maxOutput = 1 << 10

// waitDelay bounds how long a run waits, after the program exits or is
// killed, for its output pipes to close: a daemon it starts in the
// background may hold them for ever.
const waitDelay = 2 * time.Second

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validateExec(c *Config, v *checker) {
	if len(c.Command) == 0 {
		v.Field("command", "required for type exec: the program's absolute path, then its arguments")
		return
	}
	switch prog := c.Command[0]; {
	case strings.Contains(prog, "{{"):
		v.Field("command", "the program (first element) is not a template: a label must not choose what runs")
	case !filepath.IsAbs(prog):
		// A relative name would be looked up in PATH, or run from
		// escalator's working directory.
		v.Field("command", "the program (first element) must be an absolute path, got %q", prog)
	}
	for i, arg := range c.Command[1:] {
		if _, err := parseTemplate("command", arg, nil); err != nil {
			v.Field("command", "element %d: %v", i+1, err)
			continue
		}
		if _, err := renderSample("command", arg, c, nil); err != nil {
			v.Field("command", "element %d: %v", i+1, labelError(err, c))
		}
	}
	for _, name := range sortedKeys(c.Env) {
		switch {
		case !envName.MatchString(name):
			v.Field("env."+name, "not an environment variable name")
		case name == "PATH":
			v.Field("env.PATH", "PATH is always %s", strings.TrimPrefix(childPath, "PATH="))
		default:
			v.template("env."+name, c.Env[name], c, nil)
		}
	}
}

type execAction struct {
	name string
	prog string
	args []*tmpl
	env  map[string]*tmpl
}

func newExec(name string, c *Config) (Action, error) {
	a := &execAction{name: name, prog: c.Command[0], env: map[string]*tmpl{}}
	for _, arg := range c.Command[1:] {
		t, err := mustParse(name, "command", arg, nil)
		if err != nil {
			return nil, err
		}
		a.args = append(a.args, t)
	}
	for k, src := range c.Env {
		t, err := mustParse(name, "env."+k, src, nil)
		if err != nil {
			return nil, err
		}
		a.env[k] = t
	}
	return a, nil
}

// render is the argv and environment of a run.
func (a *execAction) render(allowed map[string]string) (argv, env []string, err error) {
	argv = []string{a.prog}
	for i, t := range a.args {
		s, err := t.render(allowed)
		if err != nil {
			return nil, nil, fmt.Errorf("command element %d: %w", i+1, err)
		}
		argv = append(argv, s)
	}
	for _, k := range sortedKeys(a.env) {
		s, err := a.env[k].render(allowed)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", k, err)
		}
		env = append(env, k+"="+s)
	}
	return argv, append(env, childPath), nil
}

func (a *execAction) Describe(allowed map[string]string) (string, error) {
	argv, env, err := a.render(allowed)
	if err != nil {
		return "", errorf(a.name, "%w", err)
	}
	// %q quotes each element, so the audit shows where one ends.
	d := fmt.Sprintf("run %q", argv)
	if len(env) > 1 {
		d += fmt.Sprintf(" with env %q", env[:len(env)-1])
	}
	return d, nil
}

func (a *execAction) Run(ctx context.Context, allowed map[string]string) (string, error) {
	argv, env, err := a.render(allowed)
	if err != nil {
		return "", errorf(a.name, "%w", err)
	}
	// argv straight to execve: no shell ever sees a label.
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	var out capped
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = waitDelay
	// The program runs in a process group of its own, and a timeout
	// kills the whole group: a script's children die with it rather than
	// go on restarting things after it was given up on.
	setGroup(cmd)
	err = cmd.Run()
	switch {
	case err == nil:
		return "exit 0", nil
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success():
		// The program succeeded; something it started (a daemon it
		// restarted, say) still holds its output.
		return "exit 0 (output still held open by a child after " + waitDelay.String() + ")", nil
	case ctx.Err() != nil:
		return "", errorf(a.name, "%s: killed with its process group: %w: %s", argv[0], ctx.Err(), out.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String(), errorf(a.name, "%s: %s: %s", argv[0], ee.ProcessState, out.String())
	}
	return "", errorf(a.name, "%s: %w", argv[0], err)
}

func (a *execAction) Close() error { return nil }

// capped keeps the first maxOutput bytes written to it and counts the
// rest. The program's stdout and stderr both write here.
type capped struct {
	mu    sync.Mutex
	buf   []byte
	extra int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(p), maxOutput-len(c.buf))
	c.buf = append(c.buf, p[:n]...)
	c.extra += len(p) - n
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.ToValidUTF8(strings.TrimSpace(string(c.buf)), "?")
	if s == "" {
		s = "no output"
	}
	if c.extra > 0 {
		s += fmt.Sprintf(" … (%d more bytes)", c.extra)
	}
	return s
}
