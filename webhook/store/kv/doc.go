// Package kv is the embedded store's storage engine: named buckets of
// ordered keys, nested as bbolt nests them, held in memory and made
// durable by an append-only journal, with a snapshot of the whole now and
// then so that the journal stays short.
//
// Why not a B+tree file: a bbolt commit rewrites every page on the path of
// every key it writes and waits for two fsyncs, and its one writer was
// the bottleneck of an alert storm (most of a commit's keys are random:
// delivery hashes, new incidents). Here a commit is one append of what
// changed and one fdatasync; a read never touches the disk and never
// waits for the writer, because every transaction reads an immutable
// version (copy-on-write B-trees, github.com/google/btree).
//
// The price is memory: everything the store holds is in memory, as a
// file of bbolt's would be in the page cache. The store prunes what it
// holds (the store's retention), which bounds both. Records are copied
// into large slabs (arena.go), so that the garbage collector has a few
// hundred objects to mark rather than one per key; replaced and deleted
// records stay in their slab until relocation copies a sparse slab's
// live ones out, which keeps them below the live bytes.
//
// On disk, in the store's directory:
//
//	LOCK                  held (flock) by the one process that has the store open
//	snapshot-<n>          the whole store as of the end of journal n
//	journal-<m>           every commit after the snapshot, m > n, in order
//
// Both are sequences of records (length, CRC-32C, operations). Opening
// loads the newest snapshot and replays the journals after it. In the
// last journal, the first record cut short or failing its checksum ends
// it: after a crash that is the commit whose fdatasync never returned
// (its caller was never told it was stored), and the journal is cut
// there; anything after it is dropped with it. In any other journal, or
// in a snapshot, such a record is damage and opening fails.
package kv
