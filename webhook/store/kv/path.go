package kv

import (
	"encoding/binary"
	"errors"
)

// A bucket's path is the names from the top, each as a uvarint length
// and its bytes, as one string: a map key, written as it is in the
// journal. A parent's path is a prefix of its children's, so sorted paths
// put every parent before its children.
const rootPath = ""

func childPath(parent string, name []byte) string {
	b := make([]byte, 0, len(parent)+binary.MaxVarintLen64+len(name))
	b = append(b, parent...)
	b = binary.AppendUvarint(b, uint64(len(name)))
	return string(append(b, name...))
}

var errBadPath = errors.New("malformed bucket path")

// splitPath gives a path's parent and last name; for the root, ok is false.
func splitPath(p string) (parent string, name []byte, ok bool, err error) {
	rest := p
	for len(rest) > 0 {
		n, w := binary.Uvarint([]byte(rest))
		if w <= 0 || uint64(len(rest)-w) < n {
			return "", nil, false, errBadPath
		}
		if uint64(len(rest)-w) == n {
			return p[:len(p)-len(rest)], []byte(rest[w:]), true, nil
		}
		rest = rest[w+int(n):]
	}
	return "", nil, false, nil
}
