package brokers

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is how many cores were busy during a timed phase: the whole
// machine's, and this process's (the load generator) part of it. Client,
// server and broker share the machine's two cores, so a protocol that
// costs its clients more CPU leaves less to its server; machine minus
// client is the server's share (plus whatever else ran).
type CPU struct {
	Machine float64 `json:"machine_cores"`
	Client  float64 `json:"client_cores"`
}

type cpuSample struct {
	at      time.Time
	machine time.Duration // busy time of all CPUs, from /proc/stat
	self    time.Duration // user + system time of this process
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), machine: machineBusy()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// since is the cores used between s and now.
func (s cpuSample) since(now cpuSample) CPU {
	wall := now.at.Sub(s.at).Seconds()
	if wall <= 0 {
		return CPU{}
	}
	return CPU{Machine: (now.machine - s.machine).Seconds() / wall, Client: (now.self - s.self).Seconds() / wall}
}

// machineBusy is the summed non-idle time of all CPUs ("cpu" line of
// /proc/stat, in USER_HZ = 100 ticks a second on Linux); 0 where there is
// no /proc.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		// user nice system idle iowait irq softirq steal [guest guest_nice,
		// already counted in user and nice]
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}
