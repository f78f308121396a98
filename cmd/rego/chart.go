package main

// Latency CDF charts: in the terminal (text) and as SVG or HTML files. The
// command draws them itself: a chart library would be a dependency of the
// module, and the root module depends on xsync, hdrhistogram and goleak only.
//
// Both axes are chosen for tail latency. x is the latency on a log scale.
// y is the fraction of calls at most that slow, on a "nines" scale, where
// 0%, 90%, 99% and 99.9% are evenly spaced (y = -log10(1-q)): on a linear
// scale everything a hedge or a retry changes would be squeezed into the top
// row.

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// cdfSeries is one line of a chart: a set of latencies, sorted.
type cdfSeries struct {
	name string
	lat  []time.Duration
}

// cdfChart is a latency CDF of a few series.
type cdfChart struct {
	title  string
	series []cdfSeries
}

// chartNines is the top of the y axis: p99.9.
const chartNines = 3

// nines maps a fraction q to the y axis: 0 -> 0, 0.9 -> 1, 0.99 -> 2.
func nines(q float64) float64 {
	if q >= 1 {
		return chartNines
	}
	return min(-math.Log10(1-q), chartNines)
}

// cdfAt returns the fraction of sorted that is <= d.
func cdfAt(sorted []time.Duration, d time.Duration) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := sort.Search(len(sorted), func(i int) bool { return sorted[i] > d })
	return float64(i) / float64(len(sorted))
}

// xRange returns the log10 of the x axis' ends (in nanoseconds), padded to
// whole 1-2-5 steps around the data.
func (c cdfChart) xRange() (lo, hi float64) {
	minD, maxD := time.Duration(math.MaxInt64), time.Duration(0)
	for _, s := range c.series {
		if len(s.lat) > 0 {
			minD, maxD = min(minD, s.lat[0]), max(maxD, s.lat[len(s.lat)-1])
		}
	}
	if maxD <= 0 {
		return 3, 9 // 1µs..1s: an empty chart still has axes
	}
	minD = max(minD, time.Microsecond)
	maxD = max(maxD, 2*minD)
	lo = math.Log10(float64(niceStep(minD, false)))
	hi = math.Log10(float64(niceStep(maxD, true)))
	return lo, hi
}

// niceStep rounds d down (or up) to 1, 2 or 5 times a power of ten.
func niceStep(d time.Duration, up bool) time.Duration {
	p := math.Pow(10, math.Floor(math.Log10(float64(d))))
	steps := []float64{1, 2, 5, 10}
	if up {
		for _, s := range steps {
			if s*p >= float64(d) {
				return time.Duration(s * p)
			}
		}
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i]*p <= float64(d) {
			return time.Duration(steps[i] * p)
		}
	}
	return time.Duration(p)
}

// xTicks returns the 1-2-5 tick values within [lo, hi] (log10 ns), at most
// about max of them.
func xTicks(lo, hi float64, most int) []time.Duration {
	var all []time.Duration
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if l := math.Log10(v); l >= lo-1e-9 && l <= hi+1e-9 {
				all = append(all, time.Duration(v))
			}
		}
	}
	if len(all) <= most {
		return all
	}
	var decades []time.Duration // powers of ten only
	for _, v := range all {
		if l := math.Log10(float64(v)); math.Abs(l-math.Round(l)) < 1e-9 {
			decades = append(decades, v)
		}
	}
	return decades
}

// fmtTick writes a tick label: "500µs", "2ms", "1s".
func fmtTick(d time.Duration) string {
	switch {
	case d >= time.Second:
		return trimFloat(float64(d)/float64(time.Second)) + "s"
	case d >= time.Millisecond:
		return trimFloat(float64(d)/float64(time.Millisecond)) + "ms"
	case d >= time.Microsecond:
		return trimFloat(float64(d)/float64(time.Microsecond)) + "µs"
	}
	return trimFloat(float64(d)) + "ns"
}

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.3g", f), ".0") }

// yTicks are the labelled fractions of the y axis.
var yTicks = []struct {
	q     float64
	label string
}{{0, "0%"}, {0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}}

// textMarks are the glyphs of the series in the terminal, in order.
var textMarks = []byte{'.', 'o', '#', '+', 'x'}

// writeText draws the chart in a terminal: width columns of plot area,
// height rows.
func (c cdfChart) writeText(w io.Writer, width, height int) {
	lo, hi := c.xRange()
	grid := make([][]byte, height)
	for r := range grid {
		grid[r] = bytes.Repeat([]byte{' '}, width)
	}
	rowOf := func(q float64) int { // row 0 is the top (p99.9)
		return height - 1 - int(math.Round(nines(q)/chartNines*float64(height-1)))
	}
	for si, s := range c.series {
		if len(s.lat) == 0 {
			continue
		}
		mark := textMarks[si%len(textMarks)]
		prev := -1 // the previous column's row; -1 before the first call
		for col := range width {
			x := math.Pow(10, lo+(hi-lo)*(float64(col)+0.5)/float64(width))
			q := cdfAt(s.lat, time.Duration(x))
			if q == 0 {
				continue // no call this fast
			}
			row := rowOf(q)
			from := row
			if prev > row { // a steep rise: a vertical line up from the previous row
				from, row = row, prev-1
			}
			for r := from; r <= row; r++ {
				if g := grid[r][col]; g != ' ' && g != mark {
					grid[r][col] = '*'
				} else {
					grid[r][col] = mark
				}
			}
			prev = min(from, row)
		}
	}
	labels := make([]string, height)
	for _, t := range yTicks {
		labels[rowOf(t.q)] = t.label
	}
	fmt.Fprintf(w, "%s\n\n", c.title)
	for r := range grid {
		fmt.Fprintf(w, "%6s |%s\n", labels[r], grid[r])
	}
	fmt.Fprintf(w, "%6s +%s\n", "", strings.Repeat("-", width))
	axis := bytes.Repeat([]byte{' '}, width+12)
	for _, t := range xTicks(lo, hi, width/8) {
		col := int(math.Round((math.Log10(float64(t)) - lo) / (hi - lo) * float64(width-1)))
		lbl := fmtTick(t)
		start := 8 + col - len([]rune(lbl))/2
		if start < 0 || start+len(lbl) > len(axis) || strings.TrimSpace(string(axis[max(start-1, 0):min(start+len(lbl)+1, len(axis))])) != "" {
			continue // no room
		}
		copy(axis[start:], lbl)
	}
	fmt.Fprintf(w, "%s\n", strings.TrimRight(string(axis), " "))
	fmt.Fprintf(w, "%6s  latency (log scale); y: share of calls at most that slow\n", "")
	var legend []string
	for si, s := range c.series {
		legend = append(legend, fmt.Sprintf("%c %s", textMarks[si%len(textMarks)], s.name))
	}
	fmt.Fprintf(w, "%6s  %s   (* lines overlap)\n", "", strings.Join(legend, "   "))
}

// svgColors are the series' colours, in order.
var svgColors = []string{"#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"}

// writeSVG draws the chart as a standalone SVG image.
func (c cdfChart) writeSVG(w io.Writer) error {
	const (
		W, H                     = 760, 520
		left, right, top, bottom = 70, 30, 50, 60
		pw, ph                   = W - left - right, H - top - bottom
	)
	lo, hi := c.xRange()
	xOf := func(d time.Duration) float64 {
		return left + (math.Log10(float64(max(d, 1)))-lo)/(hi-lo)*pw
	}
	yOf := func(q float64) float64 { return top + ph - nines(q)/chartNines*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(c.title))
	for _, t := range yTicks {
		y := yOf(t.q)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, y, t.label)
	}
	for _, t := range xTicks(lo, hi, 12) {
		x := xOf(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>`+"\n", x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+ph+20, fmtTick(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">latency (log scale)</text>`+"\n", left+pw/2, H-14)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">calls at most that slow (nines scale)</text>`+"\n", top+ph/2)
	// The legend sits in the plot's bottom-right corner, which a CDF leaves
	// empty (few calls are both fast-ranked and slow).
	longest := 0
	for _, s := range c.series {
		longest = max(longest, len([]rune(s.name)))
	}
	legW, legH := 50+longest*7, 12+len(c.series)*22
	legX, legY := left+pw-legW-10, top+ph-legH-10
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="white" fill-opacity="0.9" stroke="#ccc"/>`+"\n", legX, legY, legW, legH)
	for si, s := range c.series {
		if len(s.lat) == 0 {
			continue
		}
		color := svgColors[si%len(svgColors)]
		// A step line through every distinct latency, thinned to about one
		// point a pixel column.
		var pts []string
		lastX := -1.0
		for i, d := range s.lat {
			if i+1 < len(s.lat) && s.lat[i+1] == d {
				continue
			}
			x, q := xOf(d), float64(i+1)/float64(len(s.lat))
			if x-lastX < 0.5 && i+1 < len(s.lat) && nines(q) < chartNines {
				continue
			}
			if len(pts) == 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, yOf(0)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, yOf(q)))
			lastX = x
			if nines(q) >= chartNines {
				break
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.2" stroke-linejoin="round" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		ly := legY + 17 + si*22
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", legX+10, ly, legX+34, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", legX+40, ly, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHTML writes a page with the text report (pre) and the chart.
func (c cdfChart) writeHTML(w io.Writer, report string) error {
	var svg strings.Builder
	if err := c.writeSVG(&svg); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n"+
		"<body style=\"font-family: Helvetica, Arial, sans-serif; margin: 24px\">\n%s<pre>%s</pre>\n</body></html>\n",
		html.EscapeString(c.title), svg.String(), html.EscapeString(report))
	return err
}

// writeCharts writes the chart to the -svg and -html files that were asked
// for. report is the text the HTML page shows under the chart.
func writeCharts(c cdfChart, svgFile, htmlFile string, report func(io.Writer)) error {
	write := func(name string, f func(io.Writer) error) error {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			return err
		}
		return os.WriteFile(name, buf.Bytes(), 0o644)
	}
	if svgFile != "" {
		if err := write(svgFile, c.writeSVG); err != nil {
			return err
		}
	}
	if htmlFile != "" {
		var text bytes.Buffer
		report(&text)
		if err := write(htmlFile, func(w io.Writer) error { return c.writeHTML(w, text.String()) }); err != nil {
			return err
		}
	}
	return nil
}
