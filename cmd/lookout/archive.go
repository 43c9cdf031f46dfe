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

// cmdArchive moves what the service no longer needs from before a date
// out of Redis into a new JSON Lines file (made durable before anything
// is removed): the audit log's events, the resolutions, and the records
// of the cases closed then whose text retention has removed. A service
// run for years then does not keep every read and every case in memory.
func cmdArchive(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var redisURL, by, before, out, key string
	fs := newFlagSet("archive", stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	fs.StringVar(&by, "by", "", "who archives (required): the audit log records the move as theirs (cli:NAME)")
	fs.StringVar(&before, "before", "", fmt.Sprintf("archive what happened before this date (2025-12-01, UTC) or RFC 3339 time; at least %d days ago (required)", triage.PrecisionDays))
	fs.StringVar(&out, "out", "", "the new file to write (required; an existing file is never overwritten)")
	fs.StringVar(&key, "pseudonym-key", "", "the service's pseudonym key (prefer the environment variable): post ids left from before keys give way to their keys")
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
	if time.Since(cutoff) < triage.PrecisionDays*24*time.Hour {
		return fmt.Errorf("--before %s is less than %d days ago: the precision figures read the resolutions of that long", before, triage.PrecisionDays)
	}
	ids, err := triage.NewPseudonyms(key)
	if err != nil {
		return err
	}
	store, closeStore, err := openStore(redisURL, ids)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := store.CheckPseudonyms(ctx); err != nil {
		return err
	}
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
	a, err := store.Archive(ctx, actor, cutoff, w, done)
	if err != nil {
		if !durable { // nothing was removed: leave no partial file behind
			f.Close()
			os.Remove(out)
		}
		return err
	}
	fmt.Fprintf(stderr, "lookout archive: moved to %s from before %s: %d audit events, %d resolutions, %d cases (%d closed then stay: text not yet expired, a follow-up due, or changed meanwhile)\n",
		out, cutoff.Format(time.RFC3339), a.Events, a.Outcomes, a.Cases, a.Kept)
	return nil
}
