// Package s3store is pitr_exporter's access to one S3 bucket through
// minio-go: path-style or virtual-host addressing, a custom endpoint and
// CA, static or environment credentials, and a count of every HTTP request
// by S3 operation so that the cost of a refresh can be seen.
package s3store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/secret"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config locates a bucket and says how to reach it.
type Config struct {
	Endpoint      string `yaml:"endpoint"` // host:port
	Bucket        string `yaml:"bucket"`
	Region        string `yaml:"region"`
	PathStyle     bool   `yaml:"path_style"` // path-style (endpoint/bucket/key) instead of virtual-host
	Insecure      bool   `yaml:"insecure"`   // plain HTTP (tests, local gateways)
	CAFile        string `yaml:"ca_file"`
	AccessKeyFile string `yaml:"access_key_file"` // else AWS_ACCESS_KEY_ID
	SecretKeyFile string `yaml:"secret_key_file"` // else AWS_SECRET_ACCESS_KEY
}

// Object is a listed key.
type Object struct {
	Key          string
	LastModified time.Time
	Size         int64
}

// Store is one bucket.
type Store struct {
	client    *minio.Client
	bucket    string
	stats     *Stats
	http      *http.Client // the same counting transport, for listings
	creds     *credentials.Credentials
	region    string
	pathStyle bool
}

// Stats counts HTTP requests to S3 by operation, and the failed ones.
type Stats struct {
	mu       sync.Mutex
	requests map[string]float64
	errors   map[string]float64
}

// Snapshot returns copies of the counters.
func (s *Stats) Snapshot() (requests, errs map[string]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	requests, errs = map[string]float64{}, map[string]float64{}
	for k, v := range s.requests {
		requests[k] = v
	}
	for k, v := range s.errors {
		errs[k] = v
	}
	return requests, errs
}

// Total is the number of requests so far, all operations.
func (s *Stats) Total() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0.0
	for _, v := range s.requests {
		t += v
	}
	return t
}

// New builds a Store; nothing is requested yet.
func New(cfg Config, stats *Stats) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3: endpoint and bucket are required")
	}
	creds, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 8
	// S3 gateways that close the connection after each response (versitygw
	// without --keep-alive, some proxies) cost a full TLS handshake per
	// listing page; a session cache lets those reconnects resume instead.
	base.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3: reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3: no certificate in CA file %s", cfg.CAFile)
		}
		base.TLSClientConfig.RootCAs = pool
	}
	if stats.requests == nil {
		stats.requests, stats.errors = map[string]float64{}, map[string]float64{}
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1" // a region skips minio-go's GetBucketLocation request
	}
	transport := &counting{next: base, stats: stats}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       !cfg.Insecure,
		Region:       region,
		BucketLookup: lookup,
		Transport:    transport,
		MaxRetries:   1, // the next refresh is the retry; keep one refresh bounded
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Store{client: c, bucket: cfg.Bucket, stats: stats, http: &http.Client{Transport: transport},
		creds: creds, region: region, pathStyle: cfg.PathStyle}, nil
}

func (cfg Config) credentials() (*credentials.Credentials, error) {
	if cfg.AccessKeyFile == "" && cfg.SecretKeyFile == "" {
		return credentials.NewEnvAWS(), nil
	}
	read := func(path string) (string, error) {
		s, err := secret.Read(path, "")
		if err != nil {
			return "", fmt.Errorf("s3 credentials: %w", err)
		}
		return s, nil
	}
	ak, err := read(cfg.AccessKeyFile)
	if err != nil {
		return nil, err
	}
	sk, err := read(cfg.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewStaticV4(ak, sk, ""), nil
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// List calls fn for every key under prefix that sorts after startAfter, in
// key order (ListObjectsV2, 1,000 keys a request).
func (s *Store) List(ctx context.Context, prefix, startAfter string, fn func(Object) error) error {
	return s.listPages(ctx, prefix, startAfter, "", func(p *Page) error {
		for _, o := range p.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListFolders lists one level under prefix after startAfter: objects
// directly under it, and each sub-folder once (its key ends in "/"). It is
// how a layout with WAL in folders is listed in parallel, folder by folder.
func (s *Store) ListFolders(ctx context.Context, prefix, startAfter string, fn func(o Object, folder bool) error) error {
	return s.listPages(ctx, prefix, startAfter, "/", func(p *Page) error {
		// S3 interleaves both in key order; folders after objects here is
		// fine: callers collect folders and list them afterwards.
		for _, o := range p.Objects {
			if err := fn(o, false); err != nil {
				return err
			}
		}
		for _, f := range p.Prefixes {
			if err := fn(Object{Key: f}, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// Get reads a whole object of at most limit bytes.
func (s *Store) Get(ctx context.Context, key string, limit int64) ([]byte, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", s.bucket, key, err)
	}
	defer o.Close()
	data, err := io.ReadAll(io.LimitReader(o, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", s.bucket, key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("reading s3://%s/%s: larger than %d bytes", s.bucket, key, limit)
	}
	return data, nil
}

// ErrNotFound is returned by Get for a key that does not exist.
var ErrNotFound = errors.New("no such key")

// GetIfExists is Get that answers ErrNotFound (wrapped) for a missing key.
func (s *Store) GetIfExists(ctx context.Context, key string, limit int64) ([]byte, error) {
	data, err := s.Get(ctx, key, limit)
	if err != nil && minio.ToErrorResponse(errors.Unwrap(err)).Code == "NoSuchKey" {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", s.bucket, key, ErrNotFound)
	}
	return data, err
}

// Put writes an object whole. Only the restore test writes, and only its
// results: the exporter itself needs no more than read access.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// Encryption reports the bucket's default encryption and its algorithm
// (AES256, aws:kms, ...). No configuration means not encrypted.
func (s *Store) Encryption(ctx context.Context) (bool, string, error) {
	cfg, err := s.client.GetBucketEncryption(ctx, s.bucket)
	if err != nil {
		// No configuration, or a server without default encryption at all
		// (NotImplemented): either way objects are not encrypted by default.
		if code := minio.ToErrorResponse(err).Code; code == "ServerSideEncryptionConfigurationNotFoundError" || code == "NotImplemented" {
			return false, "", nil
		}
		return false, "", fmt.Errorf("bucket %s encryption: %w", s.bucket, err)
	}
	for _, r := range cfg.Rules {
		if alg := r.Apply.SSEAlgorithm; alg != "" {
			return true, alg, nil
		}
	}
	return false, "", nil
}

// Versioning reports whether versioning is enabled on the bucket.
func (s *Store) Versioning(ctx context.Context) (bool, error) {
	v, err := s.client.GetBucketVersioning(ctx, s.bucket)
	if err != nil && minio.ToErrorResponse(err).Code == "NotImplemented" {
		return false, nil // a server without versioning
	}
	if err != nil {
		return false, fmt.Errorf("bucket %s versioning: %w", s.bucket, err)
	}
	return v.Enabled(), nil
}

// counting is an http.RoundTripper that counts requests by S3 operation.
type counting struct {
	next  http.RoundTripper
	stats *Stats
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	op := operation(r)
	resp, err := c.next.RoundTrip(r)
	c.stats.mu.Lock()
	c.stats.requests[op]++
	if err != nil || resp.StatusCode >= 400 && !(op == "GetBucketEncryption" && (resp.StatusCode == 404 || resp.StatusCode == 501)) {
		c.stats.errors[op]++
	}
	c.stats.mu.Unlock()
	return resp, err
}

// operation names a request as the S3 API does.
func operation(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case q.Has("encryption"):
		return "GetBucketEncryption"
	case q.Has("versioning"):
		return "GetBucketVersioning"
	case q.Has("location"):
		return "GetBucketLocation"
	case q.Get("list-type") == "2":
		return "ListObjectsV2"
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodGet:
		return "GetObject"
	default:
		return r.Method
	}
}
