// Command lookout watches a stream of Chinese social-media posts for signs
// of suicide risk and puts each person at risk in front of a trained
// volunteer. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	// The zone database, for --time-zone: a minimal container image has
	// none.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
