package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"lookout/triage"
)

// cmdAuditArchive moves the global audit log's events from before a date
// out of Redis into a new JSON Lines file (made durable before anything
// is removed), so that a service run for years does not keep every read
// in memory. Each case's own log stays with the case.
func cmdAuditArchive(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var redisURL, by, before, out string
	fs := newFlagSet("audit-archive", stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	fs.StringVar(&by, "by", "", "who archives (required): the audit log records the move as theirs (cli:NAME)")
	fs.StringVar(&before, "before", "", "archive the events before this date (2025-12-01, UTC) or RFC 3339 time; at least a day ago (required)")
	fs.StringVar(&out, "out", "", "the new file to write (required; an existing file is never overwritten)")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	actor, err := cliActor(by)
	if err != nil {
		return err
	}
	if before == "" || out == "" {
		return errors.New("--before and --out are required")
	}
	cutoff, err := triage.ParseDateTime(before, time.UTC)
	if err != nil {
		return fmt.Errorf("--before: %w", err)
	}
	if time.Since(cutoff) < 24*time.Hour {
		return fmt.Errorf("--before %s is less than a day ago; recent events stay searchable in lookout", before)
	}
	store, closeStore, err := openStore(redisURL)
	if err != nil {
		return err
	}
	defer closeStore()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	w := bufio.NewWriter(f)
	durable := false
	done := func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		durable = true
		return f.Close()
	}
	n, err := store.ArchiveAudit(ctx, actor, cutoff, w, done)
	if err != nil {
		if !durable { // nothing was removed: leave no partial file behind
			f.Close()
			os.Remove(out)
		}
		return err
	}
	fmt.Fprintf(stderr, "lookout audit-archive: %d events before %s moved to %s\n", n, cutoff.Format(time.RFC3339), out)
	return nil
}
