package main

import "testing"

func TestSchedulerProcs(t *testing.T) {
	for _, c := range []struct {
		env           string
		current, want int
	}{
		{"", 2, 4},     // default: twice the CPUs
		{"", 1, 2},     // one CPU still gets a spare P
		{"3", 3, 3},    // the operator's choice stands
		{"0", 2, 4},    // the runtime ignores 0 and bad values: so do we
		{"lots", 2, 4}, // ... and falls back to the default
	} {
		if got := schedulerProcs(c.env, c.current); got != c.want {
			t.Errorf("schedulerProcs(%q, %d) = %d, want %d", c.env, c.current, got, c.want)
		}
	}
}
