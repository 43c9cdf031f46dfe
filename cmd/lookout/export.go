package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"lookout/triage"
)

// cmdExportLabels writes outcome-labeled JSON Lines from resolved cases,
// for `lookout train --train`: text only where retention still keeps it
// (or none, with --text=false), each case whose text is read audited as
// exported by --by; --since keeps the resolutions from a date on.
func cmdExportLabels(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var redisURL, by, since string
	text := true
	fs := newFlagSet("export-labels", stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	fs.StringVar(&by, "by", "", "who exports (required): the audit log records each case read as exported by cli:NAME")
	fs.StringVar(&since, "since", "", "only cases resolved from this time on: a date (2026-11-01, UTC) or an RFC 3339 time")
	fs.BoolVar(&text, "text", true, "write the posts' text; false: the labels alone, one line a case, and no text is read")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	actor, err := cliActor(by)
	if err != nil {
		return err
	}
	o := triage.ExportOptions{Actor: actor, NoText: !text}
	if since != "" {
		t, err := triage.ParseDateTime(since, time.UTC)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		o.Since = t
	}
	store, closeStore, err := openStore(redisURL, triage.Pseudonyms{})
	if err != nil {
		return err
	}
	defer closeStore()
	w := bufio.NewWriter(stdout)
	lines, withText, err := store.ExportLabels(ctx, o, w)
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "lookout export-labels: %d labeled lines, %d with text\n", lines, withText)
	return nil
}
