// Package bench turns a load generator run into reports: a stable JSON
// document (schema version 1, with HDR histogram snapshots so a later
// compare can re-query any percentile), a text table, the original
// zaqar-bench's --noverbose summary, a latency plot, and side-by-side
// comparisons of two runs.
package bench
