//go:build !unix

package kv

import "os"

// lockDir on systems without flock only creates the file: one process per
// store is then the operator's to keep.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
