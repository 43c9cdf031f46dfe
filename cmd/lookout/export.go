package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// cmdExportLabels writes outcome-labeled JSON Lines from resolved cases,
// for `lookout train --train`: text only where retention still keeps it,
// each case whose text is read audited as exported by --by.
func cmdExportLabels(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var redisURL, by string
	fs := newFlagSet("export-labels", stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	fs.StringVar(&by, "by", "", "who exports (required): the audit log records each case read as exported by cli:NAME")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if strings.TrimSpace(by) == "" || len(by) > 64 || strings.ContainsAny(by, " \t\n") {
		return fmt.Errorf("export-labels: --by NAME is required (who exports, for the audit log; no spaces, at most 64 bytes)")
	}
	store, closeStore, err := openStore(redisURL)
	if err != nil {
		return err
	}
	defer closeStore()
	w := bufio.NewWriter(stdout)
	lines, withText, err := store.ExportLabels(ctx, "cli:"+by, w)
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "lookout export-labels: %d labeled lines, %d with text\n", lines, withText)
	return nil
}
