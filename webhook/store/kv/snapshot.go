package kv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

const snapshotMagic = "hokvsnp1"

// snapshotRecord is how much of the store one snapshot record holds.
const snapshotRecord = 1 << 20

// snapshotChunk is how much of a snapshot is written and synced before
// it rests (pacer).
const snapshotChunk = 4 << 20

// pacer keeps a snapshot to half the time it runs: after each chunk it
// sleeps as long as the chunk took.
type pacer struct {
	start  time.Time
	synced int64
}

func (p *pacer) rest() {
	time.Sleep(time.Since(p.start))
	p.start = time.Now()
}

// writeSnapshot writes v, the store as of the end of journal n, as
// snapshot-<n>: to a temporary file, synced, then renamed, so that a
// snapshot that exists is whole. It gives the file's size.
func writeSnapshot(dir string, n uint64, v *version, noSync bool) (int64, error) {
	final := snapshotPath(dir, n)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("creating snapshot: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	size := int64(0)
	if _, err := w.WriteString(snapshotMagic); err != nil {
		return 0, err
	}
	size += int64(len(snapshotMagic))
	rec := make([]byte, headerSize, snapshotRecord+64<<10)
	pace := pacer{start: time.Now()}
	flush := func() error {
		if err := sealRecord(rec); err != nil {
			return err
		}
		if _, err := w.Write(rec); err != nil {
			return err
		}
		size += int64(len(rec))
		rec = rec[:headerSize]
		if size-pace.synced < snapshotChunk {
			return nil
		}
		// Written back a chunk at a time, and resting as long as it
		// worked: a snapshot written at once filled the page cache with
		// a hundred megabytes that the journal's next fdatasync waited
		// behind (on ext4 the commit of the file system's journal writes
		// them first), and took a core from the deliveries meanwhile.
		if err := w.Flush(); err != nil {
			return err
		}
		if !noSync {
			if err := datasync(f); err != nil {
				return err
			}
		}
		pace.synced = size
		pace.rest()
		return nil
	}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range v.buckets {
			if !yield(p) {
				return
			}
		}
	})
	for _, p := range paths { // parents sort before their children
		nd := v.buckets[p]
		rec = appendOp(rec, op{kind: opCreate, path: p})
		rec = appendOp(rec, op{kind: opSeq, path: p, seq: nd.seq})
		var err error
		nd.items.Ascend(func(it item) bool {
			// A value near the largest a commit may hold gets a record
			// of its own rather than overflowing one.
			if len(rec) > headerSize && len(rec)+int(it.klen+it.vlen)+len(p)+32 > maxRecord {
				if err = flush(); err != nil {
					return false
				}
			}
			rec = appendOp(rec, op{kind: opPut, path: p, key: it.key(), value: it.value()})
			if len(rec) >= snapshotRecord {
				err = flush()
			}
			return err == nil
		})
		if err != nil {
			return 0, fmt.Errorf("writing snapshot: %w", err)
		}
	}
	rec = appendOp(rec, op{kind: opEnd})
	if err := flush(); err != nil {
		return 0, fmt.Errorf("writing snapshot: %w", err)
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("writing snapshot: %w", err)
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("syncing snapshot: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("closing snapshot: %w", err)
	}
	f = nil
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("renaming snapshot: %w", err)
	}
	if !noSync {
		if err := SyncDir(dir); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// loadSnapshot reads snapshot-<n>. A snapshot without its last record
// is refused: it was renamed only once whole, so that is damage.
func loadSnapshot(dir string, n uint64, a *arena) (*version, error) {
	path := snapshotPath(dir, n)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening snapshot: %w", err)
	}
	defer f.Close()
	v, err := readSnapshot(bufio.NewReaderSize(f, 1<<20), a)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return v, nil
}

var errIncomplete = errors.New("incomplete or damaged snapshot")

func readSnapshot(r io.Reader, a *arena) (*version, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return nil, errors.New("not a snapshot")
	}
	v := newVersion()
	var buf []byte
	for ended := false; ; {
		p, err := readRecord(r, buf)
		if err == io.EOF {
			if !ended {
				return nil, errIncomplete
			}
			return v, nil
		}
		if err != nil || ended {
			return nil, errIncomplete
		}
		err = decodeOps(p, func(o op) error {
			if ended {
				return errIncomplete // operations after the end
			}
			if o.kind == opEnd {
				ended = true
				return nil
			}
			if o.kind == opDelete || o.kind == opDrop {
				return fmt.Errorf("%w: %d in a snapshot", errBadOp, o.kind)
			}
			return v.apply(a, o)
		})
		a.commit()
		if err != nil {
			return nil, err
		}
		buf = p
	}
}
