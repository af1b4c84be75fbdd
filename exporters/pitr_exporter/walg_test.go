package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestWALGRepository builds a repository in WAL-G's documented layout
// (WAL-G itself cannot be installed here): a full and a delta backup,
// segments compressed with lz4, a promotion to timeline 2 with its history
// file, and one segment missing between the backups.
func TestWALGRepository(t *testing.T) {
	s3 := testenv.StartS3(t)
	syn := newSynthetic(t, s3, "walg")
	base := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	sentinel := func(name string, start time.Time) {
		syn.put(t, "db/basebackups_005/"+name+"_backup_stop_sentinel.json", fmt.Appendf(nil,
			`{"LSN":33554472,"FinishLSN":33554688,"StartTime":%q,"FinishTime":%q,"UncompressedSize":24000000,"CompressedSize":3000000,"IsPermanent":false,"SystemIdentifier":7713072172909287702}`,
			start.Format(time.RFC3339Nano), start.Add(30*time.Second).Format(time.RFC3339Nano)))
		syn.put(t, "db/basebackups_005/"+name+"/tar_partitions/part_1.tar.lz4", []byte("tar"))
	}
	sentinel("base_000000010000000000000002", base)
	sentinel("base_000000010000000000000006_D_000000010000000000000002", base.Add(time.Hour))
	for n := 2; n <= 7; n++ {
		if n == 4 {
			continue // lost
		}
		syn.put(t, fmt.Sprintf("db/wal_005/0000000100000000000000%02X.lz4", n), []byte("wal"))
	}
	var hist bytes.Buffer
	w := lz4.NewWriter(&hist)
	fmt.Fprintf(w, "1\t0/8000000\tno recovery target specified\n")
	w.Close()
	syn.put(t, "db/wal_005/00000002.history.lz4", hist.Bytes())
	for n := 8; n <= 10; n++ {
		syn.put(t, fmt.Sprintf("db/wal_005/0000000200000000000000%02X.lz4", n), []byte("wal"))
	}
	syn.put(t, "db/wal_005/000000010000000000000008.partial.lz4", []byte("partial"))

	mon, err := build(syn.config(t, "walg", "db"), discard())
	if err != nil {
		t.Fatal(err)
	}
	mon.RefreshOnce(context.Background())
	snap := mon.Snapshot()
	if !snap.Healthy {
		t.Fatal("refresh failed")
	}
	st := snap.State
	if len(st.Backups) != 2 || st.Backups[0].Type != "full" || st.Backups[1].Type != "incr" {
		t.Fatalf("backups %+v", st.Backups)
	}
	if st.NewestTimeline != 2 || st.NewestSegment != 10 || st.Segments != 8 {
		t.Errorf("newest %d/%d, %d segments", st.NewestTimeline, st.NewestSegment, st.Segments)
	}
	if st.Missing[1] != 1 || st.Missing[2] != 0 {
		t.Errorf("missing %v, want segment 4 of timeline 1 only", st.Missing)
	}
	if !st.WindowStart.Equal(st.Backups[1].Stop) {
		t.Errorf("window starts %s, want the delta backup's end %s", st.WindowStart, st.Backups[1].Stop)
	}
	before := mon.Stats.Total()
	mon.RefreshOnce(context.Background())
	if n := mon.Stats.Total() - before; n > 4 {
		t.Errorf("unchanged WAL-G repository: %v requests, want at most 4", n)
	}
}
