package policy

import (
	"reflect"
	"testing"
	"time"
)

// The sequences the original computes (Python, same float arithmetic).
func TestBackoffMatchesZaqar(t *testing.T) {
	for _, tc := range []struct {
		fn       string
		min, max int64
		want     []int64
	}{
		{"linear", 5, 30, []int64{5, 10, 15, 20, 25}},
		{"arithmetic", 5, 30, []int64{5, 7, 12, 20, 30}},
		{"geometric", 5, 30, []int64{5, 7, 12, 19, 30}},
		{"exponential", 5, 30, []int64{5, 7, 12, 19, 30}},
		{"geometric", 10, 60, []int64{10, 12, 14, 18, 22, 27, 33, 40, 49, 60}},
		{"arithmetic", 10, 60, []int64{10, 11, 13, 16, 21, 26, 33, 41, 50, 60}},
	} {
		if got := backoff(tc.fn, tc.min, tc.max); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s(%d, %d) = %v, want %v", tc.fn, tc.min, tc.max, got, tc.want)
		}
	}
}

func TestDelaysAndPolicyChoice(t *testing.T) {
	s := time.Second
	sub := map[string]any{"retries_with_no_delay": 1.0, "minimum_delay_retries": 0.0, "maximum_delay_retries": 0.0, "minimum_delay": 5.0, "maximum_delay": 15.0}
	queue := map[string]any{"retries_with_no_delay": 0.0, "minimum_delay_retries": 0.0, "maximum_delay_retries": 1.0, "minimum_delay": 5.0, "maximum_delay": 15.0, "ignore_subscription_override": true}
	for _, c := range []struct {
		name string
		p    Policy
		want []time.Duration
	}{
		{"default", Default(), []time.Duration{0, 0, 0, 5 * s, 5 * s, 5 * s, 5 * s, 10 * s, 15 * s, 20 * s, 25 * s, 30 * s, 30 * s, 30 * s}},
		{"subscription policy", Choose(sub, nil), []time.Duration{0, 5 * s, 10 * s}},
		{"queue override", Choose(sub, queue), []time.Duration{5 * s, 10 * s, 15 * s}},
	} {
		if got := c.p.Delays(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s delays %v, want %v", c.name, got, c.want)
		}
	}
	for _, bad := range []map[string]any{
		{"minimum_delay": 10.0, "maximum_delay": 15.0},
		{"retry_backoff_function": "cubic"},
		{"retries_with_no_delay": "3"},
		{"ignore_subscription_override": "yes"},
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
