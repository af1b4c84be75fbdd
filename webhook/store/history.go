package store

import "context"

// What both stores' PruneHistory share.

// historyChunk bounds the records one transaction removes, so that
// pruning a long history does not hold the writer lock for long.
const historyChunk = 1000

// inChunks runs prune, one chunk at a time, until a chunk is not full
// or ctx ends, and returns how many records it removed.
func inChunks(ctx context.Context, prune func() (int, error)) (int, error) {
	total := 0
	for {
		n, err := prune()
		total += n
		if err != nil || n < historyChunk || ctx.Err() != nil {
			return total, err
		}
	}
}
