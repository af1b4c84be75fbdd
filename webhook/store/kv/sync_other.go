//go:build !linux

package kv

import "os"

func datasync(f *os.File) error { return f.Sync() }
