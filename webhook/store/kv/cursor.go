package kv

import "bytes"

// Cursor is a position among a bucket's keys. Each move finds its key
// afresh from the one it was on, so the bucket may change between moves
// (Delete, Put) and the cursor goes on from where it was.
type Cursor struct {
	b   *Bucket
	key []byte // the current key; nil before the first move and past the end
}

func (c *Cursor) at(it item, found bool) ([]byte, []byte) {
	if !found {
		c.key = nil
		return nil, nil
	}
	c.key = it.key()
	return it.key(), it.value()
}

// First moves to the first key.
func (c *Cursor) First() (key, value []byte) {
	n := c.b.node()
	if n == nil {
		return c.at(item{}, false)
	}
	it, ok := n.items.Min()
	return c.at(it, ok)
}

// Last moves to the last key.
func (c *Cursor) Last() (key, value []byte) {
	n := c.b.node()
	if n == nil {
		return c.at(item{}, false)
	}
	it, ok := n.items.Max()
	return c.at(it, ok)
}

// Seek moves to the first key at or after seek.
func (c *Cursor) Seek(seek []byte) (key, value []byte) {
	n := c.b.node()
	if n == nil {
		return c.at(item{}, false)
	}
	var got item
	found := false
	n.items.AscendGreaterOrEqual(probe(seek), func(it item) bool {
		got, found = it, true
		return false
	})
	return c.at(got, found)
}

// Next moves to the key after the current one.
func (c *Cursor) Next() (key, value []byte) { return c.step(true) }

// Prev moves to the key before the current one.
func (c *Cursor) Prev() (key, value []byte) { return c.step(false) }

// step finds the nearest key after (or before) the current one.
func (c *Cursor) step(forward bool) (key, value []byte) {
	n := c.b.node()
	if n == nil || c.key == nil {
		return c.at(item{}, false)
	}
	var got item
	found := false
	visit := func(it item) bool {
		if bytes.Equal(it.key(), c.key) {
			return true // the current key, if still there
		}
		got, found = it, true
		return false
	}
	if forward {
		n.items.AscendGreaterOrEqual(probe(c.key), visit)
	} else {
		n.items.DescendLessOrEqual(probe(c.key), visit)
	}
	return c.at(got, found)
}

// Delete removes the current key; Next then gives the key after it.
func (c *Cursor) Delete() error {
	if c.key == nil {
		return ErrKeyRequired
	}
	return c.b.Delete(c.key)
}
