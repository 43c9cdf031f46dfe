package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"lookout/triage"
)

// cmdExportLabels writes outcome-labeled JSON Lines from resolved cases,
// for `lookout train --train`: text only where retention still keeps it.
func cmdExportLabels(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var redisURL string
	fs := newFlagSet("export-labels", stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	rdb, err := newRedis(redisURL, "")
	if err != nil {
		return fmt.Errorf("redis-url: %w", err)
	}
	defer rdb.Close()
	store, err := triage.NewStore(rdb, triage.DefaultRouting())
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	lines, withText, err := store.ExportLabels(ctx, w)
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "lookout export-labels: %d labeled lines, %d with text\n", lines, withText)
	return nil
}
