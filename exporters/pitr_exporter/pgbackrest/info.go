// Package pgbackrest reads a pgBackRest repository in S3 directly: its
// info files (plain or encrypted) and its WAL archive, without running
// pgBackRest and without trusting its own summary.
package pgbackrest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// info is a parsed info file: section -> key -> raw JSON value. pgBackRest
// writes INI sections whose values are JSON (strings quoted, objects for
// backups).
type info map[string]map[string]string

// parseInfo reads an info file. Sections may repeat ([backrest] holds the
// format at the top and the checksum at the bottom); their keys merge.
func parseInfo(data []byte) (info, error) {
	out := info{}
	var section string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a backup line can be long
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "":
		case strings.HasPrefix(text, "[") && strings.HasSuffix(text, "]"):
			section = text[1 : len(text)-1]
			if section == "" {
				return nil, fmt.Errorf("line %d: empty section name", line)
			}
			if out[section] == nil {
				out[section] = map[string]string{}
			}
		default:
			k, v, ok := strings.Cut(text, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("line %d: want key=value", line)
			}
			if section == "" {
				return nil, fmt.Errorf("line %d: key %q outside a section", line, k)
			}
			if !json.Valid([]byte(v)) {
				return nil, fmt.Errorf("line %d: value of %s.%s is not JSON", line, section, k)
			}
			out[section][k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if _, ok := out["backrest"]["backrest-format"]; !ok {
		return nil, fmt.Errorf("no [backrest] backrest-format: not a pgBackRest info file")
	}
	return out, nil
}

func (in info) str(section, key string) (string, error) {
	raw, ok := in[section][key]
	if !ok {
		return "", fmt.Errorf("missing %s.%s", section, key)
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		// Numbers are written bare (db-id=1); accept them as text.
		var n json.Number
		if err2 := json.Unmarshal([]byte(raw), &n); err2 != nil {
			return "", fmt.Errorf("%s.%s: %w", section, key, err)
		}
		return n.String(), nil
	}
	return s, nil
}

// ArchiveInfo is archive/<stanza>/archive.info: which database the archive
// belongs to now. WAL lives under archive/<stanza>/<DBVersion>-<DBID>/.
type ArchiveInfo struct {
	DBID      string
	DBVersion string
	Encrypted bool   // the repository is encrypted (the file was)
	SubPass   string // the cipher pass of archived files, when encrypted
}

// ParseArchiveInfo reads archive.info, decrypting it with pass when needed.
func ParseArchiveInfo(data []byte, pass string) (*ArchiveInfo, error) {
	in, enc, err := open(data, pass)
	if err != nil {
		return nil, err
	}
	a := &ArchiveInfo{Encrypted: enc}
	if a.DBID, err = in.str("db", "db-id"); err != nil {
		return nil, err
	}
	if a.DBVersion, err = in.str("db", "db-version"); err != nil {
		return nil, err
	}
	if enc {
		if a.SubPass, err = in.str("cipher", "cipher-pass"); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(a.DBID+a.DBVersion, "/-") {
		return nil, fmt.Errorf("db-id %q and db-version %q must not contain / or -", a.DBID, a.DBVersion)
	}
	return a, nil
}

// Backup is one backup as backup.info records it.
type Backup struct {
	Label    string
	Type     string // full, diff or incr
	Start    time.Time
	Stop     time.Time
	Size     int64  // database size
	RepoSize int64  // size in the repository (compressed, and for diff/incr only its own files plus references)
	WALStart string // first WAL segment needed to make it consistent
	WALStop  string
	Error    bool // pgBackRest found page checksum errors
	DBID     int
	Prior    string
}

type backupJSON struct {
	Type     string `json:"backup-type"`
	Start    int64  `json:"backup-timestamp-start"`
	Stop     int64  `json:"backup-timestamp-stop"`
	Size     int64  `json:"backup-info-size"`
	RepoSize int64  `json:"backup-info-repo-size"`
	WALStart string `json:"backup-archive-start"`
	WALStop  string `json:"backup-archive-stop"`
	Error    bool   `json:"backup-error"`
	DBID     int    `json:"db-id"`
	Prior    string `json:"backup-prior"`
}

// BackupInfo is backup/<stanza>/backup.info.
type BackupInfo struct {
	Backups   []Backup // oldest first
	Encrypted bool
}

// ParseBackupInfo reads backup.info, decrypting it with pass when needed.
func ParseBackupInfo(data []byte, pass string) (*BackupInfo, error) {
	in, enc, err := open(data, pass)
	if err != nil {
		return nil, err
	}
	if _, err := in.str("db", "db-id"); err != nil {
		return nil, err
	}
	bi := &BackupInfo{Encrypted: enc}
	for label, raw := range in["backup:current"] {
		var b backupJSON
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			return nil, fmt.Errorf("backup %s: %w", label, err)
		}
		switch b.Type {
		case "full", "diff", "incr":
		default:
			return nil, fmt.Errorf("backup %s: unknown type %q", label, b.Type)
		}
		if b.Stop < b.Start || b.Start <= 0 {
			return nil, fmt.Errorf("backup %s: stop %d before start %d", label, b.Stop, b.Start)
		}
		bi.Backups = append(bi.Backups, Backup{
			Label: label, Type: b.Type, Start: time.Unix(b.Start, 0).UTC(), Stop: time.Unix(b.Stop, 0).UTC(),
			Size: b.Size, RepoSize: b.RepoSize, WALStart: b.WALStart, WALStop: b.WALStop,
			Error: b.Error, DBID: b.DBID, Prior: b.Prior,
		})
	}
	sort.Slice(bi.Backups, func(i, j int) bool {
		a, b := bi.Backups[i], bi.Backups[j]
		if !a.Stop.Equal(b.Stop) {
			return a.Stop.Before(b.Stop)
		}
		return a.Label < b.Label
	})
	return bi, nil
}

// open decrypts when needed and parses.
func open(data []byte, pass string) (info, bool, error) {
	enc := IsEncrypted(data)
	if enc {
		if pass == "" {
			return nil, true, fmt.Errorf("the file is encrypted: set cipher_pass_file")
		}
		var err error
		if data, err = Decrypt(data, pass); err != nil {
			return nil, true, err
		}
	}
	in, err := parseInfo(data)
	return in, enc, err
}
