package report

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"
)

const htmlStyle = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 980px; padding: 16px 24px 48px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; }
.tablewrap { overflow-x: auto; }
figure { margin: 1em 0; }
figcaption { color: #555; font-size: 0.9em; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #e5e5e5; }
svg .axis { stroke: #888; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .ylab { text-anchor: end; }
svg .xlab { text-anchor: middle; }
.warn { color: #a40; }
.note { color: #666; font-size: 0.9em; }
`

func htmlTable(b *strings.Builder, t table) {
	b.WriteString(`<div class="tablewrap"><table id="t-` + t.name + `"><thead><tr>`)
	for _, h := range t.header {
		b.WriteString("<th>" + html.EscapeString(h) + "</th>")
	}
	b.WriteString("</tr></thead><tbody>")
	for _, row := range t.rows {
		b.WriteString("<tr>")
		for _, c := range row {
			b.WriteString("<td>" + html.EscapeString(c) + "</td>")
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table></div>")
	if t.note != "" {
		b.WriteString(`<p class="note">` + html.EscapeString(t.note) + "</p>")
	}
}

func figure(b *strings.Builder, svg, caption string) {
	b.WriteString(`<figure class="fig">` + svg + "<figcaption>" + html.EscapeString(caption) + "</figcaption></figure>")
}

// figures draws the report's figures, keyed by the table they go with.
func figures(r *Report) map[string]string {
	f := map[string]string{}
	var labels []string
	var v4, a6, u6 []float64
	layout := "01-02 15:04"
	if d, err := time.ParseDuration(r.OverTime.Bucket); err == nil && d >= 24*time.Hour {
		layout = "2006-01-02"
	}
	for _, p := range r.OverTime.Buckets {
		labels = append(labels, p.Start.UTC().Format(layout))
		v4 = append(v4, float64(p.IPv4))
		a6 = append(a6, float64(p.IPv6Assoc))
		u6 = append(u6, float64(p.IPv6Unasc))
	}
	f["over_time"] = lineChart("fig-over-time", "connect() attempts from spammers over time", labels, []series{
		{name: "IPv4 (listed)", ys: v4}, {name: "IPv6 associated", ys: a6}, {name: "IPv6 unassociated", ys: u6}}, false, false)

	spam := func(id, title string, rows []SpammerRow) string {
		var cats []string
		var aa, ua []float64
		for _, x := range rows {
			cats = append(cats, osLabel(x.Name))
			aa = append(aa, float64(x.AttemptsAssoc))
			ua = append(ua, float64(x.AttemptsUnasc))
		}
		return barChart(id, title, cats, []series{{name: "attempts associated", ys: aa}, {name: "attempts unassociated", ys: ua}}, false)
	}
	f["os"] = spam("fig-os", "IPv6 spammer attempts by OS", r.OS)
	f["address_types"] = spam("fig-address-types", "IPv6 spammer attempts by address type", r.AddrTypes)

	cats := []string{"1", "2", "3", "4", "5", "6+"}
	var ss []series
	for _, x := range r.SYNs {
		s := series{name: osLabel(x.OSClass)}
		for _, c := range x.Counts {
			s.ys = append(s.ys, float64(c)/float64(max(x.Total, 1)))
		}
		ss = append(ss, s)
	}
	f["syns"] = barChart("fig-syns", "SYNs per connect() attempt, share of each OS's attempts", cats, ss, true)

	var dl []string
	for _, d := range PortDistances {
		dl = append(dl, "≤"+itoa(d))
	}
	ss = nil
	for _, x := range r.PortCDF {
		ss = append(ss, series{name: fmt.Sprintf("%s (%d pairs)", osLabel(x.OSClass), x.Pairs), ys: x.CDF})
	}
	f["port_cdf"] = lineChart("fig-port-cdf", "CDF of the source-port distance between associated IPv4 and IPv6 attempts", dl, ss, true, true)

	var fc []string
	var fv []float64
	for _, x := range r.Evidence.Families {
		fc = append(fc, x.Family)
		fv = append(fv, x.Pct/100)
	}
	f["evidence"] = barChart("fig-evidence", "Share of associations carrying each evidence family", fc, []series{{name: "associations", ys: fv}}, true)
	return f
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and SVG figures, no script, nothing fetched.
func WriteHTML(w io.Writer, r *Report) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
	b.WriteString(`<meta name="viewport" content="width=device-width, initial-scale=1">`)
	b.WriteString("<title>mxsensor report: " + html.EscapeString(r.Input.Dir) + "</title><style>" + htmlStyle + "</style></head><body>")
	b.WriteString("<h1>Abusive IPv6 SMTP at the sensor</h1>")
	fmt.Fprintf(&b, `<p class="meta">%s to %s &middot; results in <code>%s</code></p>`,
		html.EscapeString(ts(r.Period.From)), html.EscapeString(ts(r.Period.To)), html.EscapeString(r.Input.Dir))
	if r.Input.BadLines > 0 {
		fmt.Fprintf(&b, `<p class="warn">%d bad input lines were skipped (%s).</p>`, r.Input.BadLines, html.EscapeString(r.Input.SkipDetail()))
	}
	figs := figures(r)
	for _, t := range tables(r) {
		b.WriteString(`<section id="s-` + t.name + `"><h2>` + html.EscapeString(t.title) + "</h2>")
		if svg, ok := figs[t.name]; ok {
			figure(&b, svg, t.title)
		}
		if t.name == "over_time" && len(t.rows) > 48 {
			b.WriteString(`<details><summary>table</summary>`)
			htmlTable(&b, t)
			b.WriteString("</details>")
		} else {
			htmlTable(&b, t)
		}
		b.WriteString("</section>")
	}
	b.WriteString(`<section id="s-definitions"><h2>Definitions</h2><ul>`)
	for _, d := range r.Definitions {
		b.WriteString("<li>" + html.EscapeString(d) + "</li>")
	}
	b.WriteString("</ul></section></body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
