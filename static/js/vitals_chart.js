// The vital-signs trend (templates/encounters/vitals_trend.html): uPlot (static/vendor, MIT) draws the series
// passed as JSON in #vitals-chart-data: {title, unit, t: [epoch seconds], series: [{label, values}], bands: [[lo, hi]],
// and optionally decimals (shown on hover; 1 by default) and minPad (the least room above and below the values; 1)}.
// The results trend (templates/encounters/result_trend.html) draws a laboratory test with the same script.
// Time is a real time axis; the shaded bands are the adult reference ranges; the legend reads the point under the
// pointer (mouse or touch).
(function () {
  "use strict";
  const COLOURS = ["#1d4e89", "#b85c00"];
  const BANDS = ["rgba(46, 125, 50, 0.10)", "rgba(184, 92, 0, 0.08)"];

  function bandsPlugin(bands) {
    return {
      hooks: {
        drawClear: function (u) {
          const ctx = u.ctx;
          ctx.save();
          bands.forEach(function (b, i) {
            if (!b || b.length !== 2) return;
            const top = u.valToPos(b[1], "y", true);
            const bottom = u.valToPos(b[0], "y", true);
            ctx.fillStyle = BANDS[i % BANDS.length];
            ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
          });
          ctx.restore();
        },
      },
    };
  }

  function draw() {
    const el = document.getElementById("vitals-chart");
    const src = document.getElementById("vitals-chart-data");
    if (!el || !src || typeof uPlot === "undefined") return;
    const d = JSON.parse(src.textContent);
    let lo = Infinity;
    let hi = -Infinity;
    d.series.forEach(function (s) {
      s.values.forEach(function (v) {
        if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      });
    });
    d.bands.forEach(function (b) {
      if (b && b.length === 2) { lo = Math.min(lo, b[0]); hi = Math.max(hi, b[1]); }
    });
    const pad = Math.max((hi - lo) * 0.1, d.minPad === undefined ? 1 : d.minPad);
    const decimals = d.decimals === undefined ? 1 : d.decimals;
    const fmt = function (u, v) {
      if (v === null || v === undefined) return "—";
      return (d.decimals === undefined ? String(Math.round(v * 10) / 10) : v.toFixed(decimals)) + " " + d.unit;
    };
    const opts = {
      width: Math.max(280, el.clientWidth || 600),
      height: 300,
      plugins: [bandsPlugin(d.bands)],
      cursor: { points: { size: 9 } },
      scales: { x: { time: true }, y: { range: [lo - pad, hi + pad] } },
      axes: [
        { stroke: "#444", grid: { stroke: "#eee" } },
        { stroke: "#444", grid: { stroke: "#eee" }, label: d.unit, size: 60,
          values: function (u, vals) { return vals.map(function (v) { return v; }); } },
      ],
      series: [{ label: "Taken", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }].concat(
        d.series.map(function (s, i) {
          return {
            label: s.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            spanGaps: true,
            points: { show: true, size: 7, fill: COLOURS[i % COLOURS.length] },
            value: fmt,
          };
        })
      ),
    };
    const data = [d.t].concat(d.series.map(function (s) { return s.values; }));
    const plot = new uPlot(opts, data, el);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(280, el.clientWidth || 600), height: 300 });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
