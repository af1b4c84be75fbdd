package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/webhook/api"
)

// webAuth is the basic auth of the web configuration (basic_auth_users),
// checked by escalator rather than by exporter-toolkit: the toolkit would
// guard every path, the signed acknowledgement links too, which are for
// whoever received the notification and carry their own signature.
// exporter-toolkit still serves TLS, headers and rate limits, from a copy
// of the web configuration without basic_auth_users (a private temporary
// file, rewritten when the original changes, removed by Close).
type webAuth struct {
	Users *api.UsersFile
	Copy  string // the web configuration exporter-toolkit reads
	dir   string
}

// openWebAuth reads the web configuration; nil when it has no
// basic_auth_users (or there is none), and exporter-toolkit reads it as
// it is.
func openWebAuth(webConfig string, logger *slog.Logger) (*webAuth, error) {
	if webConfig == "" {
		return nil, nil
	}
	data, err := os.ReadFile(webConfig)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", webConfig, err)
	}
	if _, users, err := splitWebConfig(webConfig, data); err != nil || len(users) == 0 {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "escalator-web-config-")
	if err != nil {
		return nil, fmt.Errorf("a copy of the web configuration without basic_auth_users: %w", err)
	}
	w := &webAuth{Copy: filepath.Join(dir, "web-config.yml"), dir: dir}
	w.Users, err = api.OpenUsersFile(webConfig, func(data []byte) (*api.Users, error) {
		rest, users, err := splitWebConfig(webConfig, data)
		if err != nil {
			return nil, err
		}
		if len(users) == 0 {
			// Removing every user must not open escalator: refused until
			// escalator is restarted, which then asks for a token.
			return nil, fmt.Errorf("%s: basic_auth_users: none left (restart escalator to change how it authenticates)", webConfig)
		}
		if err := writeFileAtomic(w.Copy, rest); err != nil {
			return nil, fmt.Errorf("a copy of the web configuration without basic_auth_users: %w", err)
		}
		u, err := api.NewUsers(users)
		if err != nil {
			return nil, fmt.Errorf("%s: basic_auth_users: %w", webConfig, err)
		}
		return u, nil
	}, logger)
	if err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Close removes the copy.
func (w *webAuth) Close() {
	if w != nil {
		os.RemoveAll(w.dir)
	}
}

// splitWebConfig takes basic_auth_users out of a web configuration and
// makes the TLS file paths absolute (exporter-toolkit reads them relative
// to the configuration's directory, which the copy is not in). The rest
// is left as it was written, inline keys included.
func splitWebConfig(path string, data []byte) (rest []byte, users map[string]string, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file: no users, nothing else
		return data, nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s: not a mapping", path)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	kept := root.Content[:0:0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		switch key.Value {
		case "basic_auth_users":
			if err := value.Decode(&users); err != nil {
				return nil, nil, fmt.Errorf("%s:%d: basic_auth_users: want name: bcrypt hash", path, value.Line)
			}
			continue
		case "tls_server_config":
			absolutePaths(value, dir, "cert_file", "key_file", "client_ca_file")
		}
		kept = append(kept, key, value)
	}
	root.Content = kept
	rest, err = yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return rest, users, nil
}

// absolutePaths joins the relative paths of m's fields named to dir.
func absolutePaths(m *yaml.Node, dir string, fields ...string) {
	if m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		for _, f := range fields {
			if v := m.Content[i+1]; m.Content[i].Value == f && v.Kind == yaml.ScalarNode && v.Value != "" && !filepath.IsAbs(v.Value) {
				v.Value = filepath.Join(dir, v.Value)
			}
		}
	}
}

// writeFileAtomic replaces path, so that a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
