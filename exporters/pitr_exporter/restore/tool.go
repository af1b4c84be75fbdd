package restore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Request is what the backup tool is asked to restore.
type Request struct {
	DataDir string
	// Backup is the label of the backup to restore.
	Backup string
	// Target is the time to recover to; zero means the backup's own end
	// (recovery stops as soon as the restored files are consistent).
	Target time.Time
	// TablespaceDir receives every tablespace, so none is restored to the
	// path it has on the production host.
	TablespaceDir string
}

// Tool is a backup tool that can restore a backup and fetch WAL for it.
type Tool interface {
	Name() string
	// Restore fetches the backup's files into req.DataDir and writes the
	// recovery settings (restore_command, target, pause at the target).
	Restore(ctx context.Context, req Request) error
}

// PgBackRest restores with `pgbackrest restore` and the stanza's own
// configuration; the data directory, tablespaces and archiving are
// overridden on the command line, never in that file.
type PgBackRest struct {
	Binary string // default pgbackrest on PATH
	Config string // the stanza's pgbackrest.conf
	Stanza string
}

// Name implements Tool.
func (p *PgBackRest) Name() string { return "pgbackrest" }

// Restore implements Tool.
func (p *PgBackRest) Restore(ctx context.Context, req Request) error {
	bin := p.Binary
	if bin == "" {
		bin = "pgbackrest"
	}
	args := []string{
		"--config=" + p.Config, "--stanza=" + p.Stanza,
		"--pg1-path=" + req.DataDir,
		"--set=" + req.Backup,
		"--tablespace-map-all=" + req.TablespaceDir,
		// The restored cluster must never push WAL into the repository it
		// came from: its new timeline would look like a real promotion.
		"--archive-mode=off",
		"--target-action=pause",
		"--log-level-console=warn",
		// Restore options the stanza's file may set for real restores
		// ([global:restore], [stanza:restore]) must not apply here: links
		// and tablespaces mapped to production paths, a delta restore, a
		// remote pg1-host, extra recovery settings. (force, target-exclusive
		// and target-timeline cannot be set in the file.)
		"--no-delta", "--no-link-all",
		"--reset-link-map", "--reset-tablespace-map", "--reset-recovery-option",
		"--reset-db-include", "--reset-db-exclude", "--reset-pg1-host",
	}
	if req.Target.IsZero() {
		args = append(args, "--type=immediate")
	} else {
		args = append(args, "--type=time", "--target="+pgTime(req.Target))
	}
	args = append(args, "restore")
	out, err := runTool(ctx, bin, args...)
	if err != nil {
		return fmt.Errorf("pgbackrest restore: %w%s", err, tail(out))
	}
	return nil
}

// pgTime formats a time as PostgreSQL reads a timestamptz, to the
// microsecond it keeps.
func pgTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00" }

// runTool runs a command in its own process group, killed with it (the
// group, so a tool's worker processes go too) when ctx ends, and sent
// SIGTERM if this process dies first.
func runTool(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = os.Environ()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), ctx.Err()
	}
	return out.String(), err
}

// tail is the end of a command's output, for an error message.
func tail(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	if len(out) > 2000 {
		out = "…" + out[len(out)-2000:]
	}
	return ": " + out
}
