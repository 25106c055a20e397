package bench

import (
	"bytes"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// spectrum is the latency percentile distribution of one histogram, with
// x = 1/(1-q) so that the tail (99%, 99.9%, ...) spreads out on a log axis.
func spectrum(snap *hdrhistogram.Snapshot) plotter.XYs {
	h := hdrhistogram.Import(snap)
	var pts plotter.XYs
	for _, q := range []float64{0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999} {
		pts = append(pts, plotter.XY{X: 100 / (100 - q), Y: float64(h.ValueAtQuantile(q)) / 1000})
	}
	return pts
}

type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for _, q := range []string{"0", "90", "99", "99.9", "99.99", "99.999"} {
		var f float64
		fmt.Sscan(q, &f)
		out = append(out, plot.Tick{Value: 100 / (100 - f), Label: q + "%"})
	}
	return out
}

// WritePlot draws the latency percentile spectrum of every operation to
// path: .png, or .html (a self-contained page with the SVG inlined).
func (r *Report) WritePlot(path string) error {
	p := plot.New()
	p.Title.Text = "zaqar-bench latency by percentile (" + r.Params.ServerURL + ")"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var args []any
	for _, n := range r.opNames() {
		if snap := r.Operations[n].Latency.Histogram; snap != nil && r.Operations[n].Latency.Count > 0 {
			args = append(args, n, spectrum(snap))
		}
	}
	if r.EndToEnd != nil && r.EndToEnd.Histogram != nil {
		args = append(args, "end-to-end", spectrum(r.EndToEnd.Histogram))
	}
	if len(args) == 0 {
		return fmt.Errorf("bench: nothing to plot")
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return p.Save(9*vg.Inch, 5*vg.Inch, path)
	case ".html", ".htm":
		wt, err := p.WriterTo(9*vg.Inch, 5*vg.Inch, "svg")
		if err != nil {
			return err
		}
		var svg bytes.Buffer
		if _, err := wt.WriteTo(&svg); err != nil {
			return err
		}
		page := "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(p.Title.Text) +
			"</title></head><body>\n" + svg.String() + "\n</body></html>\n"
		return os.WriteFile(path, []byte(page), 0o644)
	}
	return fmt.Errorf("bench: plot file must end in .png or .html: %s", path)
}
