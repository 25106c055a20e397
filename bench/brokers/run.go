package brokers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a whole run.
type Config struct {
	Params
	Rounds    int
	Workloads []string // produce, consume, mixed: run in this order
	Systems   []string // zaqar, redis, rabbitmq: the order of odd rounds

	ZaqarURL    string // a running server; empty: start ZaqarServer
	ZaqarServer string // server binary; empty: bin/zaqar-server, ./zaqar-server or $PATH
	ZaqarWait   int    // seconds a claim long-polls (?wait=N); 0 polls, for servers without it
	RedisServer string // redis-server binary
	RabbitMQURL string

	// Warmup is an untimed mixed load on each system before round 1, so
	// the first measurement does not meet a cold process (empty heap and
	// caches, a broker's first queue) while the others meet warm ones.
	Warmup time.Duration

	// Settle is the pause after each measurement, so the background work a
	// system does after a load (AOF rewrite, compaction, log truncation)
	// falls in the pause and not in the next system's measurement.
	Settle time.Duration

	Progress io.Writer // one line per measurement; nil for none
}

// AllSystems are the systems a run knows, in their default order.
var AllSystems = []string{"zaqar", "redis", "rabbitmq"}

// DefaultConfig is the documented run: 3 rounds of 10 s, 16 producers and
// 16 consumers, a 300,000-message backlog of 1,000-byte bodies.
func DefaultConfig() Config {
	return Config{
		Params: Params{Duration: 10 * time.Second, Producers: 16, Consumers: 16, Backlog: 300_000, Body: 1000, Batch: 10,
			DrainTimeout: 5 * time.Minute},
		Rounds: 3, Workloads: slices.Clone(Workloads), Systems: slices.Clone(AllSystems), ZaqarWait: 1,
		RedisServer: "redis-server", RabbitMQURL: DefaultRabbitMQ, Warmup: 3 * time.Second, Settle: 2 * time.Second,
	}
}

// Validate checks the parameters.
func (c *Config) Validate() error {
	switch {
	case c.Rounds < 1:
		return errors.New("rounds must be at least 1")
	case c.Duration <= 0:
		return errors.New("time must be positive")
	case c.Producers < 1 || c.Consumers < 1:
		return errors.New("producers and consumers must be at least 1")
	case c.Batch < 1:
		return errors.New("batch must be at least 1")
	case c.Backlog < 0:
		return errors.New("backlog must not be negative")
	case c.ZaqarWait < 0:
		return errors.New("zaqar-wait must not be negative")
	case c.Body < 40:
		return errors.New("body must be at least 40 bytes (it carries the message's key)")
	case len(c.Systems) == 0:
		return errors.New("no systems")
	}
	for _, s := range c.Systems {
		if !slices.Contains(AllSystems, s) {
			return fmt.Errorf("unknown system %q (have %s)", s, strings.Join(AllSystems, ", "))
		}
	}
	if len(c.Workloads) == 0 {
		return errors.New("no workloads")
	}
	for _, w := range c.Workloads {
		if !slices.Contains(Workloads, w) {
			return fmt.Errorf("unknown workload %q (have %s)", w, strings.Join(Workloads, ", "))
		}
	}
	return nil
}

// Run measures every workload on every available system, rounds
// interleaved: in each round, workload by workload, each system in turn;
// odd rounds take the systems in reverse order, so no system always runs
// right after the same other one.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Tool: "zaqar-bench brokers", Start: time.Now(), CPUs: runtime.NumCPU(), LoadStart: loadAverage(),
		Skipped: map[string]string{}, Settings: Settings{Rounds: cfg.Rounds, Workloads: cfg.Workloads, Seconds: cfg.Duration.Seconds(),
			Producers: cfg.Producers, Consumers: cfg.Consumers, MixedProducers: cfg.MixedProducers(),
			Backlog: cfg.Backlog, Body: cfg.Body, Batch: cfg.Batch}}
	var systems []System
	defer func() {
		for _, s := range systems {
			s.Close()
		}
	}()
	for _, name := range cfg.Systems {
		s, err := open(name, cfg)
		if err != nil {
			rep.Skipped[name] = err.Error()
			cfg.progress("skipping %s: %v", name, err)
			continue
		}
		systems = append(systems, s)
		rep.Systems = append(rep.Systems, name)
	}
	if len(systems) == 0 {
		return rep, errors.New("no system is available")
	}
	if cfg.Warmup > 0 {
		p := cfg.Params
		p.Duration = cfg.Warmup
		for _, s := range systems {
			if m := Measure(ctx, s, Mixed, -1, p); m.Err != "" {
				cfg.progress("warm-up of %s: %s", s.Name(), m.Err)
			}
		}
	}
	for round := range cfg.Rounds {
		order := slices.Clone(systems)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, wl := range cfg.Workloads {
			for _, s := range order {
				if ctx.Err() != nil {
					return finish(rep), ctx.Err()
				}
				m := Measure(ctx, s, wl, round, cfg.Params)
				rep.Measurements = append(rep.Measurements, m)
				cfg.progress("%s", progressLine(m, cfg.Rounds))
				select {
				case <-time.After(cfg.Settle):
				case <-ctx.Done():
				}
			}
		}
	}
	return finish(rep), nil
}

func finish(rep *Report) *Report {
	rep.End = time.Now()
	rep.LoadEnd = loadAverage()
	rep.Summary = Summarize(rep.Measurements, rep.Settings.Workloads, rep.Systems)
	return rep
}

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

func progressLine(m Measurement, rounds int) string {
	s := fmt.Sprintf("round %d/%d %-7s %-8s", m.Round+1, rounds, m.Workload, m.System)
	if m.Workload != Consume {
		s += fmt.Sprintf("  produced %8s/s", thousands(m.ProducedRate))
	}
	if m.Workload != Produce {
		s += fmt.Sprintf("  consumed %8s/s", thousands(m.ConsumedRate))
	}
	if c := m.Counts; c != nil {
		s += fmt.Sprintf("  lost %d dup %d", c.Lost, c.Duplicates)
		if !c.Drained {
			s += fmt.Sprintf(" (not drained: %d left)", c.Remaining)
		}
	}
	if m.Err != "" {
		s += "  error: " + m.Err
	}
	return s
}

// open connects to, or starts, one system.
func open(name string, cfg Config) (System, error) {
	switch name {
	case "zaqar":
		if cfg.ZaqarURL != "" {
			return ConnectZaqar(cfg.ZaqarURL, cfg.ZaqarWait)
		}
		bin := cfg.ZaqarServer
		if bin == "" {
			bin = findZaqarServer()
		}
		if bin == "" {
			return nil, errors.New("no zaqar-server binary (looked in bin/, ./ and $PATH): give --zaqar URL or --zaqar-server PATH (make build puts one in bin/)")
		}
		return StartZaqar(bin, cfg.ZaqarWait)
	case "redis":
		bin, err := exec.LookPath(cfg.RedisServer)
		if err != nil {
			return nil, fmt.Errorf("redis-server not found (%v): install Debian's redis-server or give --redis-server PATH", err)
		}
		return StartRedis(bin)
	case "rabbitmq":
		return ConnectRabbitMQ(cfg.RabbitMQURL)
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

func findZaqarServer() string {
	for _, p := range []string{"bin/zaqar-server", "./zaqar-server"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("zaqar-server"); err == nil {
		return p
	}
	return ""
}

// loadAverage reads /proc/loadavg (zeros where there is none).
func loadAverage() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	for i, f := range strings.Fields(string(b)) {
		if i == 3 {
			break
		}
		l[i], _ = strconv.ParseFloat(f, 64)
	}
	return l
}
