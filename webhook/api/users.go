package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Users are accounts: names with bcrypt hashes, the shape of
// exporter-toolkit's basic_auth_users.
type Users struct {
	hashes map[string][]byte
	// dummy is compared when a name is unknown, at the cost of the
	// dearest real hash, so that an unknown name answers as slowly as a
	// wrong password and names cannot be told apart by timing.
	dummy []byte
}

// NewUsers checks each entry; an error names the user, never the hash.
func NewUsers(hashes map[string]string) (*Users, error) {
	names := slices.Sorted(maps.Keys(hashes))
	u := &Users{hashes: make(map[string][]byte, len(hashes))}
	cost := bcrypt.MinCost
	var errs []error
	for _, name := range names {
		if problem := userProblem(name, hashes[name]); problem != "" {
			errs = append(errs, fmt.Errorf("user %q: %s", name, problem))
			continue
		}
		c, _ := bcrypt.Cost([]byte(hashes[name]))
		cost = max(cost, c)
		u.hashes[name] = []byte(hashes[name])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(u.hashes) > 0 {
		secret := make([]byte, 16)
		_, _ = rand.Read(secret)
		dummy, err := bcrypt.GenerateFromPassword(secret, cost)
		if err != nil {
			return nil, fmt.Errorf("hashing the stand-in password for unknown names: %w", err)
		}
		u.dummy = dummy
	}
	return u, nil
}

// userProblem is what is wrong with an account ("" when nothing).
func userProblem(name, hash string) string {
	if name == "" || !printable(name) {
		return "a name needs printable characters only"
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		// bcrypt's error quotes a byte of the hash: not repeated.
		return fmt.Sprintf("not a bcrypt hash (htpasswd -nBC 10 %s prints one after the colon)", name)
	}
	return ""
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Len is how many accounts there are.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.hashes)
}

// hashFor is name's hash, or for an unknown name the stand-in one
// (known false).
func (u *Users) hashFor(name string) (hash []byte, known bool) {
	if h, ok := u.hashes[name]; ok {
		return h, true
	}
	return u.dummy, false
}

// Check reports whether password is name's. It takes a bcrypt comparison
// whether or not the name exists.
func (u *Users) Check(name, password string) bool {
	if u.Len() == 0 {
		return false
	}
	h, known := u.hashFor(name)
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil && known
}

// UsersFile is a file of accounts, read again when it changes: a person
// added, removed or given a new password counts without a restart (and
// the console sessions of one removed or given a new password end).
type UsersFile struct {
	path   string
	load   func([]byte) (*Users, error)
	logger *slog.Logger

	mu      sync.Mutex
	modTime time.Time
	size    int64
	users   *Users
}

// OpenUsersFile reads path with load, which makes the accounts of its
// content. A later read that fails keeps the accounts read before and is
// logged (the file's name and the error, never its content).
func OpenUsersFile(path string, load func([]byte) (*Users, error), logger *slog.Logger) (*UsersFile, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &UsersFile{path: path, load: load, logger: logger}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Users is the file's accounts as it is now.
func (f *UsersFile) Users() *Users {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err == nil && (!fi.ModTime().Equal(f.modTime) || fi.Size() != f.size) {
		err = f.reload()
	}
	if err != nil {
		f.logger.Error("Reading accounts; keeping the ones read before", "file", f.path, "err", err)
	}
	return f.users
}

// reload reads the file; f.mu is held, or f is not shared yet.
func (f *UsersFile) reload() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	// Stamped before parsing: a broken file is reported once, not at
	// every request, and read again when it changes.
	f.modTime, f.size = fi.ModTime(), fi.Size()
	u, err := f.load(data)
	if err != nil {
		return err // load names the file, and the line where it can
	}
	f.users = u
	return nil
}

// consoleUsers is the console's users file.
type consoleUsers struct {
	Users map[string]string `yaml:"users"`
}

// Validate implements yamlconf.Validator: errors with the file's lines.
func (c *consoleUsers) Validate() error {
	if len(c.Users) == 0 {
		return yamlconf.Fieldf("users", "at least one person")
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Users)) {
		if problem := userProblem(name, c.Users[name]); problem != "" {
			errs = append(errs, yamlconf.Fieldf("users."+name, "%s", problem))
		}
	}
	return errors.Join(errs...)
}

// ConsoleUsers parses a console users file (name of the file in errors):
//
//	users:
//	  tanaka: $2y$10$…   # htpasswd -nBC 10 tanaka, after the colon
func ConsoleUsers(name string) func([]byte) (*Users, error) {
	return func(data []byte) (*Users, error) {
		var c consoleUsers
		if err := yamlconf.Parse(name, data, &c); err != nil {
			return nil, err
		}
		u, err := NewUsers(c.Users)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return u, nil
	}
}

type userKey struct{}

// BasicAuth guards every request with users (the web configuration's
// basic_auth_users) except the signed acknowledgement links, whose
// signature is their authentication: they are for whoever received the
// notification, who has no password. The console learns the name.
func BasicAuth(users *UsersFile, next http.Handler) http.Handler {
	var (
		bcryptMu sync.Mutex // one comparison at a time: a flood of guesses takes one core
		cacheMu  sync.Mutex
		cache    = map[[32]byte]bool{}
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if signedLink(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if name, password, ok := r.BasicAuth(); ok {
			u := users.Users()
			hash, _ := u.hashFor(name)
			// Alertmanager sends the same credentials with every
			// delivery: a bcrypt comparison each time would cost more
			// than the delivery. The key is a digest, so no password is
			// kept; a new hash for the name is a new key.
			key := sha256.Sum256(fmt.Appendf(nil, "%d:%s%d:%s%s", len(name), name, len(hash), hash, password))
			cacheMu.Lock()
			good, cached := cache[key]
			cacheMu.Unlock()
			if !cached {
				bcryptMu.Lock()
				good = u.Check(name, password)
				bcryptMu.Unlock()
				cacheMu.Lock()
				if len(cache) >= 256 {
					for k := range cache { // evict one at random
						delete(cache, k)
						break
					}
				}
				cache[key] = good
				cacheMu.Unlock()
			}
			if good {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, name)))
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="escalator", charset="UTF-8"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	})
}

// basicAuthUser is the name BasicAuth let in ("" without basic auth).
func basicAuthUser(r *http.Request) string {
	name, _ := r.Context().Value(userKey{}).(string)
	return name
}
