// `--report FILE.html`: one self-contained page (no network: inline SVG
// drawn by inline JS from the data embedded in the page) with, for each
// latency the scenario measured, latency over time and a percentile plot.
import Foundation
import Histogram

enum HTMLReport {
    /// The percentiles of the percentile plot (0 is the minimum, 100 the maximum).
    static let percentiles: [Double] = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100]

    struct PercentilePoint: Encodable {
        var percentile: Double
        var ms: Double
    }

    /// One measured latency (e.g. "delivery", "ack").
    struct Series: Encodable {
        var name: String
        var count: UInt64
        var overTime: [LatencyTimeline.Point]
        var percentiles: [PercentilePoint]

        enum CodingKeys: String, CodingKey { case name, count, overTime = "over_time", percentiles }
    }

    struct Page: Encodable {
        var title: String
        var generated: String
        var rows: [[String]]
        var series: [Series]
    }

    /// A series from a run's histogram (µs) and timeline, `t` from `startMicros`.
    static func series(_ name: String, _ histogram: Histogram<UInt64>, _ timeline: LatencyTimeline, start: Int64) -> Series {
        let points: [PercentilePoint] =
            histogram.totalCount == 0
            ? []
            : percentiles.map { p in
                let micros: UInt64 = p == 0 ? histogram.min : p == 100 ? histogram.max : histogram.valueAtPercentile(p)
                return PercentilePoint(percentile: p, ms: Double(micros) / 1000)
            }
        return Series(
            name: name, count: histogram.totalCount, overTime: timeline.points(from: start), percentiles: points)
    }

    /// Writes the page to `path`.
    static func write(title: String, rows: [(String, String)], series: [Series], to path: String) throws {
        let page = Page(
            title: title, generated: ISO8601DateFormatter().string(from: Date()), rows: rows.map { [$0.0, $0.1] },
            series: series)
        // The default encoder writes "/" as "\/": no "</script>" inside the data.
        let data = String(decoding: try JSONEncoder().encode(page), as: UTF8.self)
        let html =
            head(title: title) + #"<script type="application/json" id="report-data">"# + data + "</script>\n"
            + "<script>\n" + script + "</script>\n</body>\n</html>\n"
        try html.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private static func head(title: String) -> String {
        let escaped = title.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>switchboard-load: \(escaped)</title>
            <style>
            body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
            table { border-collapse: collapse; margin-bottom: 16px; }
            td { padding: 2px 12px 2px 0; vertical-align: top; }
            td:first-child { color: #555; }
            .plots { display: flex; flex-wrap: wrap; gap: 16px; }
            svg { background: #fafafa; border: 1px solid #ddd; }
            svg text { font-size: 11px; fill: #444; }
            .p50 { stroke: #1f77b4; fill: #1f77b4; } .p99 { stroke: #d62728; fill: #d62728; }
            .max { stroke: #999; fill: #999; } .pct { stroke: #2ca02c; fill: #2ca02c; }
            polyline { fill: none !important; stroke-width: 1.5; }
            .axis { stroke: #888; } .grid { stroke: #e4e4e4; }
            </style>
            </head>
            <body>
            <h1>switchboard-load: \(escaped)</h1>
            <p id="generated"></p>
            <table id="summary"></table>
            <div id="charts"></div>

            """
    }

    // Draws into #charts; every plotted point is a <circle> (the browser
    // test counts them against the data).
    private static let script = #"""
        const data = JSON.parse(document.getElementById('report-data').textContent);
        const NS = 'http://www.w3.org/2000/svg';
        document.getElementById('generated').textContent = 'generated ' + data.generated;
        for (const [k, v] of data.rows) {
          const tr = document.getElementById('summary').insertRow();
          tr.insertCell().textContent = k;
          tr.insertCell().textContent = v;
        }
        function el(name, attrs, parent) {
          const e = document.createElementNS(NS, name);
          for (const k in attrs) e.setAttribute(k, attrs[k]);
          if (parent) parent.appendChild(e);
          return e;
        }
        function ticks(lo, hi, n) {
          const span = hi - lo || 1, step0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
          const step = [1, 2, 5, 10].map(m => m * mag).find(s => span / s <= n) || 10 * mag;
          const out = [];
          for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
          return out;
        }
        // lines: [{cls, points: [[x, y, title]]}]; xs maps a value to the axis' own scale.
        function plot(parent, cls, series, title, xLabel, lines, xTicks, xText) {
          const W = 520, H = 300, L = 56, R = 12, T = 28, B = 40;
          const svg = el('svg', {width: W, height: H, class: cls, 'data-series': series}, parent);
          el('text', {x: L, y: 16}, svg).textContent = title;
          const all = lines.flatMap(l => l.points);
          const xmin = Math.min(...all.map(p => p[0]), xTicks ? xTicks[0] : Infinity);
          const xmax = Math.max(...all.map(p => p[0]), xTicks ? xTicks[xTicks.length - 1] : -Infinity);
          const ymax = Math.max(...all.map(p => p[1]), 0.001) * 1.05;
          const X = x => L + (xmax > xmin ? (x - xmin) / (xmax - xmin) : 0.5) * (W - L - R);
          const Y = y => H - B - (y / ymax) * (H - T - B);
          for (const v of ticks(0, ymax, 5)) {
            el('line', {x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: 'grid'}, svg);
            el('text', {x: L - 6, y: Y(v) + 4, 'text-anchor': 'end'}, svg).textContent = v;
          }
          for (const v of xTicks || ticks(xmin, xmax, 6)) {
            el('text', {x: X(v), y: H - B + 16, 'text-anchor': 'middle'}, svg).textContent = xText ? xText(v) : v;
          }
          el('line', {x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis'}, svg);
          el('line', {x1: L, x2: L, y1: T, y2: H - B, class: 'axis'}, svg);
          el('text', {x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle'}, svg).textContent = xLabel;
          el('text', {x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, 'text-anchor': 'middle'}, svg)
            .textContent = 'ms';
          lines.forEach((line, i) => {
            el('polyline', {class: line.cls, points: line.points.map(p => X(p[0]) + ',' + Y(p[1])).join(' ')}, svg);
            for (const p of line.points) {
              el('title', {}, el('circle', {cx: X(p[0]), cy: Y(p[1]), r: 2.5, class: 'point ' + line.cls}, svg))
                .textContent = p[2];
            }
            el('text', {x: W - R - 4, y: T + 12 + 13 * i, 'text-anchor': 'end', class: line.cls}, svg).textContent = line.cls;
          });
          return svg;
        }
        const charts = document.getElementById('charts');
        for (const s of data.series) {
          const section = document.createElement('section');
          section.dataset.series = s.name;
          const h = document.createElement('h2');
          h.textContent = s.name + ' latency (' + s.count + ' measured)';
          section.appendChild(h);
          const row = document.createElement('div');
          row.className = 'plots';
          section.appendChild(row);
          charts.appendChild(section);
          if (s.count === 0) { row.textContent = 'nothing measured'; continue; }
          const over = ['p50', 'p99', 'max'].map(cls => ({cls, points: s.over_time.map(p =>
            [p.t, p[cls], `${p.t} s: ${cls} ${p[cls]} ms (${p.count} measured)`])}));
          plot(row, 'over-time', s.name, s.name + ': latency over time', 'seconds since start (bucket start)', over);
          // x: -log10(1 - p) (nines), the maximum one step past the last.
          const nines = p => p >= 100 ? 6 : -Math.log10(1 - p / 100);
          const pct = [{cls: 'pct', points: s.percentiles.map(p => [nines(p.percentile), p.ms, `p${p.percentile}: ${p.ms} ms`])}];
          const labels = {0: '0', 1: '90', 2: '99', 3: '99.9', 4: '99.99', 5: '99.999', 6: 'max'};
          plot(row, 'percentiles', s.name, s.name + ': latency by percentile', 'percentile', pct, [0, 1, 2, 3, 4, 5, 6],
            v => labels[v]);
        }
        document.body.dataset.rendered = 'true';
        """#
}
