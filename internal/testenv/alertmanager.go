package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AlertmanagerVersion is the Alertmanager the tests run: Debian
// bookworm's prometheus-alertmanager, which the Makefile installs. (The
// module's cmd/alertmanager cannot be built with go install: its web UI
// is not in the module.) Another version is refused rather than tested
// against unnoticed.
const AlertmanagerVersion = "0.25.0"

var amVersion struct {
	once sync.Once
	out  string
	err  error
}

// Alertmanager is a real Alertmanager (Debian's prometheus-alertmanager)
// on loopback.
type Alertmanager struct {
	URL         string // http://127.0.0.1:port
	ClusterAddr string // 127.0.0.1:port of its gossip listener, for peers
	cmd         *exec.Cmd
	Log         string
}

// StartAlertmanager starts Alertmanager with the given configuration. With
// peers it joins their cluster (an HA pair); without, clustering is off.
func StartAlertmanager(t TB, config string, peers ...string) *Alertmanager {
	t.Helper()
	bin := LookPath(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	amVersion.once.Do(func() {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		amVersion.out, amVersion.err = string(out), err
	})
	if amVersion.err != nil || !strings.Contains(amVersion.out, "version "+AlertmanagerVersion+" ") {
		t.Fatalf("%s is not Alertmanager %s, the version the tests are pinned to (Debian bookworm's package): %v\n%s",
			bin, AlertmanagerVersion, amVersion.err, amVersion.out)
	}
	dir, err := os.MkdirTemp("", "hotelops-am-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	port := FreePort(t)
	am := &Alertmanager{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Log: filepath.Join(dir, "alertmanager.log")}
	args := []string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port)}
	if len(peers) == 0 {
		args = append(args, "--cluster.listen-address=")
	} else {
		am.ClusterAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		args = append(args, "--cluster.listen-address="+am.ClusterAddr, "--cluster.advertise-address="+am.ClusterAddr)
		for _, p := range peers {
			if p != "" {
				args = append(args, "--cluster.peer="+p)
			}
		}
	}
	logf, _ := os.Create(am.Log)
	am.cmd = exec.Command(bin, args...)
	am.cmd.Stdout, am.cmd.Stderr = logf, logf
	if err := am.cmd.Start(); err != nil {
		t.Fatalf("starting alertmanager: %v", err)
	}
	t.Cleanup(func() { _ = am.cmd.Process.Kill(); _, _ = am.cmd.Process.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(am.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return am
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(am.Log)
	t.Fatalf("alertmanager not ready within 15s:\n%s", log)
	return nil
}
