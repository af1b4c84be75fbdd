package kv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// journal is the file commits are appended to.
type journal struct {
	f      *os.File
	n      uint64 // its number: journal-<n>
	size   int64
	noSync bool
}

const journalMagic = "hokvjrn1"

func createJournal(dir string, n uint64, noSync bool) (*journal, error) {
	path := journalPath(dir, n)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating journal: %w", err)
	}
	j := &journal{f: f, n: n, noSync: noSync, size: int64(len(journalMagic))}
	err = func() error {
		if _, err := f.Write([]byte(journalMagic)); err != nil {
			return fmt.Errorf("writing journal %s: %w", path, err)
		}
		// The file's name must be durable before a commit in it counts.
		if !noSync {
			if err := SyncDir(dir); err != nil {
				return err
			}
		}
		return j.sync()
	}()
	if err != nil {
		// Not left behind: a journal after the current one would make the
		// current one's torn end, after a crash, read as damage.
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return j, nil
}

// append writes one sealed record and waits until it is durable.
func (j *journal) append(rec []byte) error {
	if _, err := j.f.Write(rec); err != nil {
		return fmt.Errorf("appending to journal %s: %w", j.f.Name(), err)
	}
	j.size += int64(len(rec))
	return j.sync()
}

func (j *journal) sync() error {
	if j.noSync {
		return nil
	}
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("syncing journal %s: %w", j.f.Name(), err)
	}
	return nil
}

// replayJournal applies the records of journal n to v. A torn record
// ends the journal: when last, the file is cut there (those commits
// were never acknowledged) and opened for appending; otherwise it is
// damage in the middle of the history and an error.
func replayJournal(dir string, n uint64, v *version, a *arena, last, noSync bool) (*journal, error) {
	path := journalPath(dir, n)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != journalMagic {
		if !last {
			return nil, fmt.Errorf("journal %s: not a journal", path)
		}
		// Created and not yet synced when the process stopped: start it anew.
		if err := f.Truncate(0); err != nil {
			return nil, err
		}
		f.Close()
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		return createJournal(dir, n, noSync)
	}
	end := int64(len(journalMagic))
	var buf []byte
	for {
		p, err := readRecord(r, buf)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			if !last {
				return nil, fmt.Errorf("journal %s is damaged at offset %d, before the journals after it", path, end)
			}
			if err := f.Truncate(end); err != nil {
				return nil, fmt.Errorf("cutting the torn end of journal %s: %w", path, err)
			}
			break
		}
		err = decodeOps(p, func(o op) error { return v.apply(a, o) })
		a.commit()
		if err != nil {
			return nil, fmt.Errorf("journal %s at offset %d: %w", path, end, err)
		}
		buf = p
		end += int64(headerSize + len(p))
	}
	if !last {
		return nil, nil
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return nil, err
	}
	keep = true
	j := &journal{f: f, n: n, size: end, noSync: noSync}
	return j, j.sync() // the cut, if any, before anything is appended after it
}
