package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
	store, closeStore, err := openStore(redisURL)
	if err != nil {
		return err
	}
	defer closeStore()
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
