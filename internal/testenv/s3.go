package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// S3 is a versitygw S3 server on loopback with TLS (pgBackRest's S3 client
// requires it) and real signature checks, storing objects in a directory.
type S3 struct {
	Port      int
	Endpoint  string // host:port, with host "localhost" to match the certificate
	AccessKey string
	SecretKey string
	CAFile    string // the self-signed certificate, to trust
	Dir       string // the posix backend's root: one folder per bucket

	cert, key string
	bin       string
	cmd       *exec.Cmd
	t         TB
}

// StartS3 starts versitygw (installed by `make tools` into ./bin).
func StartS3(t TB) *S3 {
	t.Helper()
	bin := Tool(t, "versitygw")
	dir, err := os.MkdirTemp("", "hotelops-s3-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &S3{
		Port: FreePort(t), AccessKey: "hotelops", SecretKey: "hotelops-secret-key",
		Dir: filepath.Join(dir, "data"), bin: bin, t: t,
	}
	s.Endpoint = fmt.Sprintf("localhost:%d", s.Port)
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	s.cert, s.key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := selfSigned(s.cert, s.key); err != nil {
		t.Fatalf("certificate: %v", err)
	}
	s.CAFile = s.cert
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server on its port and waits until it accepts TLS.
func (s *S3) Start() {
	s.t.Helper()
	// --keep-alive: versitygw closes the connection after every response
	// unless told otherwise, which AWS S3 does not do; a client measured
	// against that pays a TLS handshake per request. --quiet: no line per
	// request in the log, which a million-object benchmark would fill.
	s.cmd = exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.Port),
		"--keep-alive", "--quiet",
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--cert", s.cert, "--key", s.key, "posix", s.Dir)
	logf, _ := os.Create(filepath.Join(filepath.Dir(s.Dir), "versitygw.log"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(filepath.Dir(s.Dir), "versitygw.log"))
	s.t.Fatalf("versitygw did not accept TLS on port %d within 15s:\n%s", s.Port, log)
}

// Stop stops the server (its data stays until the test ends).
func (s *S3) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
	s.cmd = nil
}

// CPUTime is the user and system CPU time the server has used since it
// started (0 if it is not running), from /proc: benchmarks report it apart
// from the client's, since both share the machine's cores.
func (s *S3) CPUTime() time.Duration {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th of the line, in clock ticks (USER_HZ, 100 on Linux).
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// MakeBucket creates a bucket as an empty folder of the posix backend.
func (s *S3) MakeBucket(name string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Join(s.Dir, name), 0o700); err != nil {
		s.t.Fatalf("bucket %s: %v", name, err)
	}
}

// selfSigned writes a certificate for DNS:localhost and IP:127.0.0.1.
func selfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
