// Package doccheck checks the links of the repository's Markdown files: a
// relative link must name a file or folder of the repository, and its
// #anchor a heading (or an HTML id) of the Markdown file it points into,
// spelled as GitHub spells heading anchors. Links with a scheme (https:,
// mailto:) are left alone: nothing is fetched.
package doccheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Repo is the files links may point to.
type Repo struct {
	Root  string
	Files []string // every file, slash-separated, relative to Root
}

// Problem is a link that does not resolve.
type Problem struct {
	File string // the Markdown file, relative to the root
	Line int
	Link string
	Msg  string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: (%s): %s", p.File, p.Line, p.Link, p.Msg)
}

// List returns the repository at root as git sees it: tracked files and
// untracked ones that are not ignored, so a new document is checked before
// its first commit. Without git it walks the tree, leaving out hidden
// folders and bin/.
func List(root string) (Repo, error) {
	r := Repo{Root: root}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err == nil {
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				r.Files = append(r.Files, f)
			}
		}
		return r, nil
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		r.Files = append(r.Files, filepath.ToSlash(rel))
		return nil
	})
	return r, err
}

// Check checks every Markdown file of the repository, except fixtures
// under a testdata folder.
func (r Repo) Check() []Problem {
	files := map[string]bool{}
	dirs := map[string]bool{".": true}
	for _, f := range r.Files {
		files[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(f string) (map[string]bool, error) {
		if a, ok := anchors[f]; ok {
			return a, nil
		}
		src, err := os.ReadFile(filepath.Join(r.Root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		anchors[f] = Anchors(src)
		return anchors[f], nil
	}
	var problems []Problem
	for _, f := range r.Files {
		if !isMarkdown(f) || slices.Contains(strings.Split(f, "/"), "testdata") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(r.Root, filepath.FromSlash(f)))
		if err != nil {
			problems = append(problems, Problem{File: f, Msg: err.Error()})
			continue
		}
		for _, l := range links(src) {
			bad := func(format string, args ...any) {
				problems = append(problems, Problem{File: f, Line: l.line, Link: l.dest, Msg: fmt.Sprintf(format, args...)})
			}
			target, anchor, err := resolve(f, l.dest)
			switch {
			case err != nil:
				bad("%v", err)
				continue
			case target == "": // external
				continue
			case !files[target] && !dirs[target]:
				bad("%s does not exist in the repository", target)
				continue
			}
			if anchor == "" || !isMarkdown(target) || !files[target] {
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				bad("%v", err)
			} else if !a[anchor] {
				bad("%s has no heading or id for #%s", target, anchor)
			}
		}
	}
	return problems
}

func isMarkdown(f string) bool { return strings.EqualFold(path.Ext(f), ".md") }

var scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// resolve turns a link in file into the repository path it names and its
// anchor; target is "" for an external link.
func resolve(file, dest string) (target, anchor string, err error) {
	if scheme.MatchString(dest) || strings.HasPrefix(dest, "//") {
		return "", "", nil
	}
	p, frag, _ := strings.Cut(dest, "#")
	p, _, _ = strings.Cut(p, "?")
	if anchor, err = url.PathUnescape(frag); err != nil {
		return "", "", fmt.Errorf("anchor: %v", err)
	}
	if p, err = url.PathUnescape(p); err != nil {
		return "", "", fmt.Errorf("path: %v", err)
	}
	switch {
	case p == "":
		target = file
	case strings.HasPrefix(p, "/"):
		target = path.Clean(strings.TrimPrefix(p, "/"))
	default:
		target = path.Join(path.Dir(file), p)
	}
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", "", fmt.Errorf("points outside the repository")
	}
	return target, anchor, nil
}

// link is a link destination and the line it is on.
type link struct {
	line int
	dest string
}

var (
	refDef   = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	htmlRef  = regexp.MustCompile(`<(?:a|img)\s[^>]*?(?:href|src)="([^"]*)"`)
	htmlID   = regexp.MustCompile(`<[a-zA-Z][^>]*?\s(?:id|name)="([^"]+)"`)
	atx      = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	setext   = regexp.MustCompile(`^ {0,3}(=+|-+)[ \t]*$`)
	listItem = regexp.MustCompile(`^\s*(?:[-*+]|\d+[.)])\s`)
	fence    = regexp.MustCompile("^\\s*(`{3,}|~{3,})")
	comment  = regexp.MustCompile(`<!--.*?-->`)
)

// lines yields the lines of src that Markdown renders (outside fenced code
// and HTML comments) with their numbers from 1, as written and without
// their code spans.
func lines(src []byte, yield func(n int, line, text string)) {
	var open string // the fence of the code block we are in
	inComment := false
	for i, raw := range strings.Split(string(bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))), "\n") {
		if open != "" {
			if m := fence.FindStringSubmatch(raw); m != nil && m[1][0] == open[0] && len(m[1]) >= len(open) && strings.TrimSpace(raw[len(m[0]):]) == "" {
				open = ""
			}
			continue
		}
		if m := fence.FindStringSubmatch(raw); m != nil {
			open = m[1]
			continue
		}
		line := comment.ReplaceAllString(raw, "")
		if inComment {
			end := strings.Index(line, "-->")
			if end < 0 {
				continue
			}
			line, inComment = line[end+3:], false
		}
		if start := strings.Index(line, "<!--"); start >= 0 {
			line, inComment = line[:start], true
		}
		yield(i+1, line, stripCodeSpans(line))
	}
}

// stripCodeSpans removes `code spans`, whose brackets are not links.
func stripCodeSpans(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		n := i
		for n < len(s) && s[n] == '`' {
			n++
		}
		run := s[i:n]
		end := strings.Index(s[n:], run)
		if end < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[n+end+len(run):]
	}
}

// links finds the inline links and images ([text](dest)), reference
// definitions ([id]: dest) and HTML href and src attributes of src.
func links(src []byte) []link {
	var out []link
	lines(src, func(n int, _, line string) {
		if m := refDef.FindStringSubmatch(line); m != nil {
			out = append(out, link{n, m[1]})
		}
		for _, m := range htmlRef.FindAllStringSubmatch(line, -1) {
			out = append(out, link{n, m[1]})
		}
		for rest := line; ; {
			i := strings.Index(rest, "](")
			if i < 0 {
				break
			}
			rest = rest[i+2:]
			if d, ok := destination(rest); ok {
				out = append(out, link{n, d})
			}
		}
	})
	return out
}

// destination reads a link destination at the start of s (after "](").
func destination(s string) (string, bool) {
	s = strings.TrimLeft(s, " \t")
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return "", false
		}
		return s[1:end], true
	}
	depth := 0
	for i, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth == 0, r == ' ', r == '\t':
			return s[:i], i > 0
		case r == ')':
			depth--
		}
	}
	return "", false
}

// Anchors returns the anchors of a Markdown document: its headings' as
// GitHub makes them (repeats get -1, -2, ...) and the id and name
// attributes of its HTML tags.
func Anchors(src []byte) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	add := func(heading string) {
		s := Slug(heading)
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	prev := ""
	lines(src, func(_ int, line, text string) {
		for _, m := range htmlID.FindAllStringSubmatch(text, -1) {
			out[m[1]] = true
		}
		switch m := atx.FindStringSubmatch(line); {
		case m != nil:
			add(m[2])
			line = ""
		case setext.MatchString(line) && paragraph(prev):
			add(strings.TrimSpace(prev))
			line = ""
		}
		prev = line
	})
	return out
}

// paragraph reports whether a line is paragraph text, which a line of
// === or --- below turns into a heading.
func paragraph(line string) bool {
	t := strings.TrimSpace(line)
	return t != "" && !strings.HasPrefix(t, "|") && !strings.HasPrefix(t, ">") && !listItem.MatchString(line)
}

var (
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag    = regexp.MustCompile(`<[^>]+>`)
)

// Slug is the anchor GitHub gives a heading: the rendered text (links
// become their text, markup goes), in lower case, with every character
// that is not a letter, a digit, a mark, '-' or '_' removed and each
// space turned into '-'.
func Slug(heading string) string {
	text := inlineLink.ReplaceAllString(heading, "$1")
	text = htmlTag.ReplaceAllString(text, "")
	text = strings.ReplaceAll(text, "`", "")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsNumber(r), unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
