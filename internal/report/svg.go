package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Inline SVG charts: the HTML report must render offline, with no script
// and no fetch, so the figures are drawn here.

// series is one line or one set of bars.
type series struct {
	name  string
	color string
	ys    []float64
}

var palette = []string{"#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"}

const (
	chartW, chartH         = 760, 320
	padL, padR, padT, padB = 64, 16, 16, 72
	plotW                  = chartW - padL - padR
	plotH                  = chartH - padT - padB
)

func fnum(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
func niceMax(m float64) float64 {
	if m <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(m)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= m {
			return f * p
		}
	}
	return 10 * p
}

func axisLabel(v float64, percent bool) string {
	if percent {
		return strconv.FormatFloat(v*100, 'f', 0, 64) + "%"
	}
	if v >= 1e6 {
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	}
	if v >= 1e3 {
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// svgOpen starts a chart with its accessible title, y grid and legend.
func svgOpen(b *strings.Builder, id, title string, ymax float64, percent bool, ss []series) {
	fmt.Fprintf(b, `<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		id, chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(title))
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		y := padT + plotH - plotH*float64(i)/4
		fmt.Fprintf(b, `<line x1="%d" y1="%s" x2="%d" y2="%s" class="grid"/>`, padL, fnum(y), chartW-padR, fnum(y))
		fmt.Fprintf(b, `<text x="%d" y="%s" class="ylab">%s</text>`, padL-6, fnum(y+4), axisLabel(v, percent))
	}
	x := padL
	for i, s := range ss {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" class="legend">%s</text>`,
			x, chartH-18, color(s, i), x+16, chartH-8, html.EscapeString(s.name))
		x += 24 + 7*len(s.name)
	}
}

func color(s series, i int) string {
	if s.color != "" {
		return s.color
	}
	return palette[i%len(palette)]
}

// barChart draws grouped bars: one group per category, one bar per series.
func barChart(id, title string, cats []string, ss []series, percent bool) string {
	var b strings.Builder
	m := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			m = math.Max(m, y)
		}
	}
	ymax := niceMax(m)
	if percent {
		ymax = math.Min(ymax, 1)
		if m > ymax {
			ymax = 1
		}
	}
	svgOpen(&b, id, title, ymax, percent, ss)
	gw := float64(plotW) / float64(max(len(cats), 1))
	bw := gw * 0.8 / float64(max(len(ss), 1))
	for ci, c := range cats {
		gx := float64(padL) + gw*float64(ci)
		for si, s := range ss {
			y := 0.0
			if ci < len(s.ys) {
				y = s.ys[ci]
			}
			h := float64(plotH) * y / ymax
			x := gx + gw*0.1 + bw*float64(si)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s, %s: %s</title></rect>`,
				fnum(x), fnum(float64(padT+plotH)-h), fnum(math.Max(bw-1, 1)), fnum(h), color(s, si),
				html.EscapeString(c), html.EscapeString(s.name), axisLabel(y, percent))
		}
		fmt.Fprintf(&b, `<text x="%s" y="%d" class="xlab">%s</text>`, fnum(gx+gw/2), padT+plotH+16, html.EscapeString(c))
	}
	b.WriteString(`<line x1="` + strconv.Itoa(padL) + `" y1="` + strconv.Itoa(padT+plotH) + `" x2="` + strconv.Itoa(chartW-padR) + `" y2="` + strconv.Itoa(padT+plotH) + `" class="axis"/>`)
	b.WriteString("</svg>")
	return b.String()
}

// lineChart draws one polyline per series over labelled x positions
// (every step-th label is printed); step draws a step function.
func lineChart(id, title string, xlabels []string, ss []series, percent, steps bool) string {
	var b strings.Builder
	m := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			m = math.Max(m, y)
		}
	}
	ymax := niceMax(m)
	if percent {
		ymax = 1
	}
	svgOpen(&b, id, title, ymax, percent, ss)
	n := len(xlabels)
	xAt := func(i int) float64 {
		if n <= 1 {
			return float64(padL) + float64(plotW)/2
		}
		return float64(padL) + float64(plotW)*float64(i)/float64(n-1)
	}
	every := max(1, n/8)
	for i, l := range xlabels {
		// Every every-th label, and the last one unless it would overlap.
		if i%every == 0 || (i == n-1 && i%every >= every/2) {
			fmt.Fprintf(&b, `<text x="%s" y="%d" class="xlab">%s</text>`, fnum(xAt(i)), padT+plotH+16, html.EscapeString(l))
		}
	}
	for si, s := range ss {
		var pts []string
		for i, y := range s.ys {
			py := float64(padT+plotH) - float64(plotH)*y/ymax
			if steps && i > 0 {
				prev := float64(padT+plotH) - float64(plotH)*s.ys[i-1]/ymax
				pts = append(pts, fnum(xAt(i))+","+fnum(prev))
			}
			pts = append(pts, fnum(xAt(i))+","+fnum(py))
		}
		if len(pts) == 1 {
			pts = append(pts, pts[0]) // one point: a visible dot via the stroke cap
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-linecap="round"><title>%s</title></polyline>`,
			strings.Join(pts, " "), color(s, si), html.EscapeString(s.name))
	}
	b.WriteString(`<line x1="` + strconv.Itoa(padL) + `" y1="` + strconv.Itoa(padT+plotH) + `" x2="` + strconv.Itoa(chartW-padR) + `" y2="` + strconv.Itoa(padT+plotH) + `" class="axis"/>`)
	b.WriteString("</svg>")
	return b.String()
}
