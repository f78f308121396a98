package main

// A one-line progress indicator for long commands, shown only on a terminal.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress rewrites one status line on a terminal. On anything else (a
// pipe, a file, a test's buffer) it writes nothing, so logs and CI output
// stay clean. A nil *progress is valid and silent. Safe for concurrent use.
type progress struct {
	w  io.Writer
	on bool

	mu    sync.Mutex // guards last and width
	last  time.Time  // when the line was last written
	width int        // length of the line on screen, to blank it
}

// newProgress returns a progress indicator on w, active only when w is a
// terminal.
func newProgress(w io.Writer) *progress { return &progress{w: w, on: isTerminal(w)} }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressEvery bounds how often the line is redrawn.
const progressEvery = 100 * time.Millisecond

// update shows s, at most every progressEvery.
func (p *progress) update(s string) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		pad := max(p.width-len(s), 0)
		fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
		p.width = len(s)
	}
}

// done blanks the line, so the command's output starts on a clean one.
func (p *progress) done() {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
	p.last = time.Time{}
}
