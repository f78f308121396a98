package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testChart is three made-up latency distributions, each sorted.
func testChart() cdfChart {
	mk := func(base time.Duration, tail time.Duration) []time.Duration {
		var lat []time.Duration
		for i := range 1000 {
			d := base + time.Duration(i)*base/1000
			if i >= 990 {
				d = tail + time.Duration(i-990)*tail/10
			}
			lat = append(lat, d)
		}
		return lat
	}
	return cdfChart{title: "test chart", series: []cdfSeries{
		{"slow tail", mk(2*time.Millisecond, 200*time.Millisecond)},
		{"short tail", mk(2*time.Millisecond, 20*time.Millisecond)},
		{"fast", mk(time.Millisecond, 5*time.Millisecond)},
	}}
}

// TestChartText verifies the terminal chart: one mark per series, the y
// axis' nines, x ticks in the data's range, and a legend.
func TestChartText(t *testing.T) {
	var b strings.Builder
	testChart().writeText(&b, 60, 13)
	out := b.String()
	for _, want := range []string{"test chart", "99.9% |", "99% |", "90% |", "50% |", "0% |", "1ms", "10ms", "100ms",
		". slow tail", "o short tail", "# fast", "log scale"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if top := lines[2]; !strings.Contains(top, "99.9%") || strings.Count(top, ".")+strings.Count(top, "o")+strings.Count(top, "#")+strings.Count(top, "*") == 0 {
		t.Errorf("the p99.9 row has no curve: %q", top)
	}
	for _, l := range lines {
		if len([]rune(l)) > 80 {
			t.Errorf("line wider than 80 columns: %q", l)
		}
	}
}

// TestChartSVG verifies that the SVG is well-formed XML with one line per
// series and the legend, and that the HTML page embeds it.
func TestChartSVG(t *testing.T) {
	var b bytes.Buffer
	if err := testChart().writeSVG(&b); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	polylines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 3 {
		t.Errorf("%d polylines, want 3", polylines)
	}
	for _, want := range []string{"slow tail", "short tail", "fast", "99.9%", "latency (log scale)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	var h bytes.Buffer
	if err := testChart().writeHTML(&h, "a <report>"); err != nil {
		t.Fatal(err)
	}
	if s := h.String(); !strings.HasPrefix(s, "<!doctype html>") || !strings.Contains(s, "<svg") || !strings.Contains(s, "a &lt;report&gt;") {
		t.Errorf("HTML page lacks the chart or the escaped report:\n%s", s)
	}
}

// TestDemoCharts verifies that rego demo -svg and -html write their files,
// and that the text chart follows the table.
func TestDemoCharts(t *testing.T) {
	dir := t.TempDir()
	svg, page := filepath.Join(dir, "demo.svg"), filepath.Join(dir, "demo.html")
	code, out, errOut := runCmd("demo", "-n", "100", "-latency", "1ms", "-svg", svg, "-html", page)
	if code != exitOK {
		t.Fatalf("rego demo = %d, stderr:\n%s", code, errOut)
	}
	if i, j := strings.Index(out, "p99.9\n"), strings.Index(out, "99.9% |"); i < 0 || j < i {
		t.Errorf("the chart does not follow the table:\n%s", out)
	}
	if errOut != "" {
		t.Errorf("stderr %q: the progress line is for terminals only", errOut)
	}
	for _, f := range []string{svg, page} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("demo.RetryHedge")) {
			t.Errorf("%s lacks the policies", f)
		}
	}
}

// TestDemoInterrupted verifies that a demo whose context ends (Ctrl-C)
// returns the calls measured so far, marked as interrupted.
func TestDemoInterrupted(t *testing.T) {
	cfg := testDemoConfig()
	cfg.calls = 1_000_000 // far more than fit in the time below
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := runScenario(ctx, cfg, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if rep == nil || !rep.interrupted || len(rep.rows) != 1 {
		t.Fatalf("report %+v: want the first policy's partial row, marked interrupted", rep)
	}
	row := rep.rows[0]
	if row.calls == 0 || row.calls >= cfg.calls || len(row.lat) != row.calls {
		t.Errorf("partial row: %d calls, %d latencies", row.calls, len(row.lat))
	}
	var b strings.Builder
	rep.write(&b)
	if !strings.Contains(b.String(), "interrupted") {
		t.Errorf("report does not say it was interrupted:\n%s", b.String())
	}
}

// TestProgressOnlyOnTerminal verifies that the progress line writes nothing
// to a buffer or a pipe.
func TestProgressOnlyOnTerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	p.update("x")
	p.done()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if b.Len() != 0 || isTerminal(w) || isTerminal(&b) {
		t.Errorf("progress wrote %q; pipe is a terminal: %v", b.String(), isTerminal(w))
	}
	var nilProgress *progress
	nilProgress.update("x") // must not panic
	nilProgress.done()
}
