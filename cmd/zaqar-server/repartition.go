package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/zaqar-go/zaqar/engine"
)

// runRepartition implements `zaqar-server repartition --data-dir D
// --partitions N`: offline, on a stopped server's data directory
// (engine.Repartition says how and what an interruption leaves).
func runRepartition(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("zaqar-server repartition", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("data-dir", "", "data directory of the stopped server ([drivers:message_store:badger] path)")
	partitions := flags.Int("partitions", 0, "new partition count (1..256)")
	if code, ok := parseSubcommand(flags, args, stderr); !ok {
		return code
	}
	if *dir == "" || *partitions == 0 {
		fmt.Fprintln(stderr, "zaqar-server repartition: --data-dir and --partitions are required")
		return exitConfig
	}
	o := engine.DefaultOptions(*dir)
	o.MinFreeBytes = 0 // moving bodies into Badger is not a post
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	from, err := engine.Repartition(o, *partitions)
	if err != nil {
		if errors.Is(err, engine.ErrInUse) {
			fmt.Fprintf(stderr, "zaqar-server repartition: %v: stop it first\n", err)
		} else {
			fmt.Fprintf(stderr, "zaqar-server repartition: %v\n", err)
		}
		return exitRuntime
	}
	if from == *partitions {
		fmt.Fprintf(stderr, "zaqar-server repartition: %s: partition count %d already, nothing to do\n", *dir, from)
		return exitOK
	}
	fmt.Fprintf(stderr, "zaqar-server repartition: %s: partition count %d, was %d; start the server with partitions = %d ([drivers:message_store:badger])\n",
		*dir, *partitions, from, *partitions)
	return exitOK
}
