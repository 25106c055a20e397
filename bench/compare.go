package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Compare writes a side-by-side table of two runs with B/A ratios.
func Compare(w io.Writer, a, b *Report, nameA, nameB string) {
	fmt.Fprintf(w, "A = %s (%s)\nB = %s (%s)\n\n", nameA, a.Params.ServerURL, nameB, b.Params.ServerURL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tmetric\tA\tB\tB/A\t")
	ratio := func(x, y float64) string {
		if x == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", y/x)
	}
	seen := map[string]bool{}
	for _, rep := range []*Report{a, b} {
		for _, n := range rep.opNames() {
			if seen[n] {
				continue
			}
			seen[n] = true
			sa, sb := a.Operations[n], b.Operations[n]
			for _, m := range []struct {
				name string
				x, y float64
			}{
				{"req/s", sa.RequestsPerSec, sb.RequestsPerSec},
				{"msg/s", sa.MessagesPerSec, sb.MessagesPerSec},
				{"p50 ms", sa.Latency.P50, sb.Latency.P50},
				{"p99 ms", sa.Latency.P99, sb.Latency.P99},
				{"p99.9 ms", sa.Latency.P999, sb.Latency.P999},
				{"max ms", sa.Latency.Max, sb.Latency.Max},
			} {
				fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%s\t\n", n, m.name, m.x, m.y, ratio(m.x, m.y))
			}
		}
	}
	tw.Flush()
}
