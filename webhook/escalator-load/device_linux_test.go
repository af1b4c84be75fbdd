package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The disk under a directory counts what was written there and synced:
// 4 MiB written and fdatasynced raise its count by at least that much.
// On a file system with no block device (tmpfs, overlay) nothing is
// counted, as the report then shows no disk.
func TestDeviceWritten(t *testing.T) {
	dir, err := os.Getwd() // the checkout: on a disk, where /tmp may not be
	if err != nil {
		t.Fatal(err)
	}
	name, stat := deviceOf(dir)
	if name == "" {
		if deviceWritten(stat) != 0 {
			t.Fatalf("no device under %s, yet %d bytes counted", dir, deviceWritten(stat))
		}
		return
	}
	f, err := os.CreateTemp(dir, "device-test-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	before := deviceWritten(stat)
	// Not zeros: a file system may leave blocks of zeros unwritten.
	if _, err := f.Write(bytes.Repeat([]byte("hotel-ops "), 4<<20/10+1)); err != nil {
		t.Fatal(err)
	}
	if err := datasync(f); err != nil {
		t.Fatal(err)
	}
	if got := deviceWritten(stat) - before; got < 4<<20 {
		t.Errorf("device %s (%s) counted %d bytes for 4 MiB written and synced in %s", name, stat, got, filepath.Base(f.Name()))
	}
}
