package rego_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The documentation's promise: every ```go block in README.md and docs/*.md
// is code that compiles, because it appears in a .go file of the repository
// (usually the body of an Example function), and every relative link points
// to a file that exists. These tests keep that promise as the code changes.

// docPages returns README.md and every docs/*.md file, relative to the
// module root (the test's working directory).
func docPages(t *testing.T) []string {
	t.Helper()
	pages := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(pages, more...)
}

// codeBlock is one fenced block of a page.
type codeBlock struct {
	lang  string
	line  int // line of the opening fence, 1-based
	lines []string
}

// fencedBlocks splits a Markdown page into its fenced code blocks.
func fencedBlocks(t *testing.T, page string) []codeBlock {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks []codeBlock
		cur    *codeBlock
	)
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &codeBlock{lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 1}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	if cur != nil {
		t.Errorf("%s:%d: code block is never closed", page, cur.line)
	}
	return blocks
}

var spaces = regexp.MustCompile(`[ \t]+`)

// normalize makes a line comparable between a page and a gofmt-ed file:
// indentation and the alignment gofmt puts before trailing comments differ,
// the code does not.
func normalize(line string) string {
	return spaces.ReplaceAllString(strings.TrimSpace(line), " ")
}

// normalizeBlock normalizes every line and drops blank lines at both ends.
func normalizeBlock(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, normalize(l))
	}
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// goSources reads every .go file under the module root, nested modules
// included, as normalized lines.
func goSources(t *testing.T) map[string][]string {
	t.Helper()
	files := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (name == ".git" || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			lines = append(lines, normalize(sc.Text()))
		}
		files[path] = lines
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// contains reports whether block appears as consecutive lines of lines.
func contains(lines, block []string) bool {
	for i := 0; i+len(block) <= len(lines); i++ {
		if lines[i] != block[0] {
			continue
		}
		j := 1
		for j < len(block) && lines[i+j] == block[j] {
			j++
		}
		if j == len(block) {
			return true
		}
	}
	return false
}

// TestDocsGoBlocksAreCompiled verifies that every ```go block of the
// documentation appears verbatim (up to indentation and the spacing gofmt
// chooses) in a .go file of the repository, so that it compiles and stays
// true as the API changes. To fix a failure, put the block in an Example
// function of the package it shows (example_test.go) or correct the page.
func TestDocsGoBlocksAreCompiled(t *testing.T) {
	sources := goSources(t)
	for _, page := range docPages(t) {
		for _, b := range fencedBlocks(t, page) {
			if b.lang != "go" {
				continue
			}
			block := normalizeBlock(b.lines)
			if len(block) == 0 {
				t.Errorf("%s:%d: empty go block", page, b.line)
				continue
			}
			found := false
			for _, lines := range sources {
				if contains(lines, block) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s:%d: go block starting %q appears in no .go file of the repository; "+
					"put it in an Example function (example_test.go) or mark it as ```text",
					page, b.line, block[0])
			}
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// anchors returns the GitHub anchors of a Markdown file's headings.
func anchors(t *testing.T, page string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		out[slug(strings.TrimLeft(line, "#"))] = true
	}
	return out
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces turned into hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsRelativeLinksExist verifies that every relative link of the
// documentation points to an existing file or folder, and that a link to a
// heading (page.md#anchor, or #anchor in the same page) names one.
func TestDocsRelativeLinksExist(t *testing.T) {
	for _, page := range docPages(t) {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		inFence := false
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inFence = !inFence
			}
			if inFence {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target, anchor := m[1], ""
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				if j := strings.IndexByte(target, '#'); j >= 0 {
					target, anchor = target[:j], target[j+1:]
				}
				path := page
				if target != "" {
					path = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(page), target)))
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link to %s: %s does not exist", page, i+1, m[1], path)
					continue
				}
				if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(t, path)[anchor] {
					t.Errorf("%s:%d: link to %s: %s has no heading with anchor #%s", page, i+1, m[1], path, anchor)
				}
			}
		}
	}
}
