package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// invite runs `app invite --challenge SLUG --candidate LOGIN --deadline RFC3339|--duration 72h
// [--language go] [--seed N] [--by LOGIN]`.
func invite(ctx context.Context, p *repos.Provisioner, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var r repos.InviteRequest
	var deadline, duration, seed string
	fs.StringVar(&r.Challenge, "challenge", "", "challenge slug")
	fs.StringVar(&r.Candidate, "candidate", "", "the candidate's GitHub login")
	fs.StringVar(&deadline, "deadline", "", "RFC 3339 time, e.g. 2026-12-01T17:00:00Z")
	fs.StringVar(&duration, "duration", "", "time from now instead of --deadline, e.g. 72h")
	fs.StringVar(&r.Language, "language", "go", "starter language")
	fs.StringVar(&seed, "seed", "", "variant seed, for challenges that have variants")
	fs.StringVar(&r.InvitedBy, "by", getenvOr(getenv, "USER", "cli"), "who invites (recorded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	d, err := repos.InviteDeadline(time.Now(), deadline, duration)
	if err != nil {
		return err
	}
	r.Deadline = d
	if seed != "" {
		n, err := strconv.ParseInt(seed, 10, 64)
		if err != nil {
			return fmt.Errorf("--seed %q is not a whole number", seed)
		}
		r.Seed = &n
	}
	th, err := p.Invite(ctx, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "invited %s to %s: https://github.com/%s/%s (private), due %s; take-home %d\n",
		th.User, th.Challenge, th.Owner, th.Name, th.Deadline.UTC().Format(time.RFC3339), th.ID)
	return nil
}

// extend runs `app extend (--takehome ID | --repo OWNER/NAME) (--deadline RFC3339 | --add 24h)
// [--by LOGIN]`.
func extend(ctx context.Context, st *store.Store, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("extend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var id int64
	var repo, deadline, add, by string
	fs.Int64Var(&id, "takehome", 0, "take-home id (as `app invite` and the dashboard show it)")
	fs.StringVar(&repo, "repo", "", "or the take-home's repository, OWNER/NAME")
	fs.StringVar(&deadline, "deadline", "", "the new deadline, RFC 3339")
	fs.StringVar(&add, "add", "", "or a duration to add to the current deadline, e.g. 24h")
	fs.StringVar(&by, "by", getenvOr(getenv, "USER", "cli"), "who extends (recorded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var th store.TakeHome
	var err error
	switch {
	case id != 0 && repo == "":
		th, err = st.TakeHome(ctx, id)
	case id == 0 && repo != "":
		owner, name, ok := strings.Cut(repo, "/")
		if !ok {
			return fmt.Errorf("--repo %q is not OWNER/NAME", repo)
		}
		th, err = st.TakeHomeByRepo(ctx, owner, name)
	default:
		return errors.New("name the take-home with --takehome ID or --repo OWNER/NAME")
	}
	if errors.Is(err, store.ErrNotFound) {
		return errors.New("no such take-home")
	}
	if err != nil {
		return err
	}
	to, err := repos.ExtendedDeadline(*th.Deadline, deadline, add)
	if err != nil {
		return err
	}
	ext, err := st.ExtendDeadline(ctx, th.ID, by, to)
	if err != nil {
		return fmt.Errorf("extend take-home %d (%s/%s): %w", th.ID, th.Owner, th.Name, err)
	}
	fmt.Fprintf(stdout, "take-home %d (%s/%s): deadline %s → %s, by %s\n", th.ID, th.Owner, th.Name,
		ext.Old.UTC().Format(time.RFC3339), ext.New.UTC().Format(time.RFC3339), ext.By)
	return nil
}

// reviewer runs `app reviewer add LOGIN`: it prints the reviewer's token, once.
func reviewer(ctx context.Context, st *store.Store, args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "add" {
		return errors.New("usage: app reviewer add LOGIN")
	}
	token, err := st.AddReviewer(ctx, args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reviewer %s: token (shown once; a new `app reviewer add %s` replaces it)\n%s\n", args[1], args[1], token)
	return nil
}
