package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"lookout/triage"
)

// cmdUser manages accounts: add, disable, list.
func cmdUser(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "disable" && args[0] != "list") {
		fmt.Fprintln(stderr, "usage: lookout user add|disable|list [flags]")
		return errUsage
	}
	verb := args[0]
	var redisURL, name, role, password string
	fs := newFlagSet("user "+verb, stderr)
	fs.StringVar(&redisURL, "redis-url", "redis://localhost:6379/0", "Redis URL")
	if verb != "list" {
		fs.StringVar(&name, "name", "", "user name")
	}
	if verb == "add" {
		fs.StringVar(&role, "role", "volunteer", "volunteer, supervisor, moderator or admin")
		fs.StringVar(&password, "password", "", "password (10-72 bytes); empty: generate one and print it")
	}
	if err := parseFlags(fs, args[1:], env); err != nil {
		return err
	}
	if verb != "list" && name == "" {
		return errors.New("name: required")
	}
	store, closeStore, err := openStore(redisURL)
	if err != nil {
		return err
	}
	defer closeStore()
	const actor = "cli"
	switch verb {
	case "add":
		generated := password == ""
		if generated {
			password = randomPassword()
		}
		if err := store.AddUser(ctx, actor, name, triage.Role(role), password); err != nil {
			return err
		}
		if generated {
			fmt.Fprintf(stdout, "added %s (%s), password %s\n", name, role, password)
		} else {
			fmt.Fprintf(stdout, "added %s (%s)\n", name, role)
		}
	case "disable":
		if err := store.DisableUser(ctx, actor, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s\n", name)
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

// openStore connects the case store for the command-line tools.
func openStore(redisURL string) (*triage.Store, func(), error) {
	rdb, err := newRedis(redisURL, "")
	if err != nil {
		return nil, nil, fmt.Errorf("redis-url: %w", err)
	}
	store, err := triage.NewStore(rdb, triage.DefaultRouting())
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return store, func() { rdb.Close() }, nil
}
