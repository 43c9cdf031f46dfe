package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"lookout/triage"
)

// userVerbs are what `lookout user` does.
var userVerbs = []string{"add", "disable", "enable", "role", "password", "list"}

// cmdUser manages accounts: add, disable, enable, role, password, list.
func cmdUser(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains(userVerbs, args[0]) {
		fmt.Fprintln(stderr, "usage: lookout user add|disable|enable|role|password|list [flags]")
		return errUsage
	}
	verb := args[0]
	var redisURL, name, role, password string
	fs := newFlagSet("user "+verb, stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	if verb != "list" {
		fs.StringVar(&name, "name", "", "user name")
	}
	if verb == "add" || verb == "role" {
		fs.StringVar(&role, "role", "volunteer", "volunteer, supervisor, moderator or admin")
	}
	if verb == "add" || verb == "password" {
		fs.StringVar(&password, "password", "", "password (10-72 bytes); empty: generate one and print it")
	}
	if err := parseFlags(fs, args[1:], env); err != nil {
		return err
	}
	if verb != "list" && name == "" {
		return errors.New("name: required")
	}
	store, closeStore, err := openStore(redisURL, triage.Pseudonyms{})
	if err != nil {
		return err
	}
	defer closeStore()
	const actor = "cli"
	generated := (verb == "add" || verb == "password") && password == ""
	if generated {
		password = triage.GeneratePassword()
	}
	shown := func() string {
		if generated {
			return ", password " + password
		}
		return ""
	}
	switch verb {
	case "add":
		if err := store.AddUser(ctx, actor, name, triage.Role(role), password); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)%s\n", name, role, shown())
	case "disable":
		back, err := store.DisableUser(ctx, actor, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s; sessions ended; %d held cases back where they waited\n", name, back)
	case "enable":
		if err := store.EnableUser(ctx, actor, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enabled %s\n", name)
	case "role":
		if err := store.SetRole(ctx, actor, name, triage.Role(role)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", name, role)
	case "password":
		if err := store.SetPassword(ctx, actor, name, password); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new password for %s%s; sessions ended\n", name, shown())
	case "list":
		users, err := store.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%-24s %-11s %s\n", u.Name, u.Role, state)
		}
	}
	return nil
}

// cliActor is how the audit log names whoever runs an offline command
// that reads or moves records: cli:NAME, from its required --by.
func cliActor(by string) (string, error) {
	if strings.TrimSpace(by) == "" || len(by) > 64 || strings.ContainsAny(by, " \t\n") {
		return "", errors.New("--by NAME is required (who runs it, for the audit log; no spaces, at most 64 bytes)")
	}
	return "cli:" + by, nil
}

// openStore connects the case store for the command-line tools; ids
// matter only to those that derive keys of author or post ids.
func openStore(redisURL string, ids triage.Pseudonyms) (*triage.Store, func(), error) {
	rdb, err := newRedis(redisURL, "")
	if err != nil {
		return nil, nil, fmt.Errorf("redis-url: %w", err)
	}
	store, err := triage.NewStore(rdb, triage.DefaultRouting(), ids)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return store, func() { rdb.Close() }, nil
}
