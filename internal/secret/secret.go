// Package secret reads a secret (a token, a password, a URL that is its
// own credential) from a file or an environment variable. Errors name
// where it was looked for, never what was found: they end up in logs.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Read returns the secret in file, or else in the environment variable
// env, trimmed of surrounding white space. An empty secret is an error.
func Read(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			// *PathError names the file and the reason, nothing of the content.
			return "", fmt.Errorf("reading secret: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return s, nil
	}
	s := strings.TrimSpace(os.Getenv(env))
	if s == "" {
		return "", fmt.Errorf("environment variable %s is unset or empty", env)
	}
	return s, nil
}

// Optional is Read for a secret that may be left out: "" and no error
// when neither a file nor a variable is named.
func Optional(file, env string) (string, error) {
	if file == "" && env == "" {
		return "", nil
	}
	return Read(file, env)
}
