package main

import (
	"context"
	"fmt"
	"io"
)

const usage = `lookout: suicide-risk triage for Chinese social-media posts

Usage:
  lookout demo   [flags]   run everything on this machine (embedded Kafka and Redis)
  lookout serve  [flags]   consume posts from Kafka, keep cases in Redis, serve the API
  lookout score  [flags]   grade JSON Lines from stdin ({"text": ...} per line)
  lookout eval   [flags]   measure the classifier on labeled JSON Lines
  lookout train  [flags]   train the risk model from JSON Lines
  lookout bench  [flags]   time the scorer on one core against the peer pipeline
  lookout export-labels [flags]  write outcome-labeled JSON Lines for retraining
  lookout archive [flags]  move old audit events, resolutions and closed cases out of Redis into a file
  lookout user   add|disable|list [flags]   manage accounts

Run "lookout COMMAND -h" for a command's flags. Every flag has an
environment variable (LOOKOUT_ + the flag name in upper case, '-' as '_').
`

// run is main without the process: testable.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	env := envFunc(getenv)
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], env, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], env, stdout, stderr)
	case "score":
		err = cmdScore(ctx, args[1:], env, stdin, stdout, stderr)
	case "eval":
		err = cmdEval(ctx, args[1:], env, stdout, stderr)
	case "train":
		err = cmdTrain(ctx, args[1:], env, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, args[1:], env, stdout, stderr)
	case "export-labels":
		err = cmdExportLabels(ctx, args[1:], env, stdout, stderr)
	case "archive":
		err = cmdArchive(ctx, args[1:], env, stdout, stderr)
	case "user":
		err = cmdUser(ctx, args[1:], env, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "lookout: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		if err == errFailedLines {
			return 1
		}
		fmt.Fprintf(stderr, "lookout %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
