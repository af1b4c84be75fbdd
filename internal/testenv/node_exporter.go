package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// NodeExporter is a real node_exporter on loopback. Its textfile
// collector reads TextfileDir, so a test can add any node metric with
// WriteTextfile.
type NodeExporter struct {
	Addr        string // 127.0.0.1:port, the scrape target
	URL         string // http://127.0.0.1:port; metrics are at URL+"/metrics"
	TextfileDir string
	Log         string

	t TB
	d *Daemon
}

// StartNodeExporter starts node_exporter (`make tools` installs it into
// ./bin) on a free port of 127.0.0.1 and waits until /metrics answers;
// args are further flags (e.g. --no-collector.wifi). The test's Cleanup
// kills it.
func StartNodeExporter(t TB, args ...string) *NodeExporter {
	t.Helper()
	bin := Tool(t, "node_exporter")
	if bin == "" {
		return nil
	}
	dir, err := os.MkdirTemp("", "hotelops-node-exporter-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
		return nil
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &NodeExporter{
		Addr:        fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		TextfileDir: filepath.Join(dir, "textfile"),
		Log:         filepath.Join(dir, "node_exporter.log"),
		t:           t,
	}
	n.URL = "http://" + n.Addr
	if err := os.Mkdir(n.TextfileDir, 0o700); err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	flags := append([]string{
		"--web.listen-address=" + n.Addr,
		"--collector.textfile.directory=" + n.TextfileDir,
	}, args...)
	n.d = &Daemon{Name: "node_exporter", Bin: bin, Args: flags, Dir: dir, Log: n.Log}
	t.Cleanup(n.Kill)
	n.Start()
	return n
}

// Start (re)starts node_exporter on its port after Stop or Kill and waits
// until it serves metrics.
func (n *NodeExporter) Start() {
	n.t.Helper()
	if err := n.d.Start(); err != nil {
		n.t.Fatalf("%v", err)
		return
	}
	if err := n.d.WaitHTTP(n.URL+"/metrics", 30*time.Second); err != nil {
		n.d.Kill()
		n.t.Fatalf("%v\nlog %s:\n%s", err, n.Log, n.d.Tail())
	}
}

// Stop ends node_exporter with SIGTERM and waits until it has exited, so
// the next scrape of it fails ("node_exporter dies").
func (n *NodeExporter) Stop() error { return n.d.Stop(10 * time.Second) }

// Kill kills node_exporter at once.
func (n *NodeExporter) Kill() { n.d.Kill() }

// Running reports whether the process is alive.
func (n *NodeExporter) Running() bool { return n.d.Running() }

// LogTail is the end of node_exporter's output, for failure messages.
func (n *NodeExporter) LogTail() string { return n.d.Tail() }

// WriteTextfile writes name.prom (text exposition format) into the
// textfile collector's directory, whole, so a scrape never sees half of
// it; empty content removes the file.
func (n *NodeExporter) WriteTextfile(name, content string) {
	n.t.Helper()
	name = strings.TrimSuffix(name, ".prom") + ".prom"
	path := filepath.Join(n.TextfileDir, name)
	if content == "" {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			n.t.Fatalf("%v", err)
		}
		return
	}
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	// The collector reads only *.prom, so the temporary name is ignored.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		n.t.Fatalf("%v", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		n.t.Fatalf("%v", err)
	}
}
