package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/repos"
)

// assign runs `app assign --challenge SLUG --user LOGIN [--format practice] [--language go]`.
func assign(ctx context.Context, p *repos.Provisioner, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("assign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var r repos.AssignRequest
	var deadline string
	fs.StringVar(&r.Challenge, "challenge", "", "challenge slug")
	fs.StringVar(&r.User, "user", "", "the learner's GitHub login")
	fs.StringVar(&r.Format, "format", "practice", "practice (take-homes: app invite)")
	fs.StringVar(&deadline, "deadline", "", "RFC 3339 time, e.g. 2026-12-01T17:00:00Z (required for take-home)")
	fs.StringVar(&r.Language, "language", "go", "starter language")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if r.Format == "take-home" {
		return errTakeHomeByInvite
	}
	if deadline != "" {
		d, err := time.Parse(time.RFC3339, deadline)
		if err != nil {
			return fmt.Errorf("--deadline %q is not RFC 3339, e.g. 2026-12-01T17:00:00Z", deadline)
		}
		r.Deadline = &d
	}
	a, err := p.Assign(ctx, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "assigned %s to %s: https://github.com/%s/%s (%s)\n", a.Challenge, a.User, a.Owner, a.Name, a.Format)
	return nil
}

// errTakeHomeByInvite refuses take-homes through assign: only an invitation records the
// take-home, so that it closes and is graded at its deadline.
var errTakeHomeByInvite = errors.New("take-homes are created with `app invite` (or POST /api/takehomes), which closes them and grades the final commit at the deadline")

// publish runs `app templates publish`.
func publish(ctx context.Context, p *repos.Provisioner, stdout io.Writer) error {
	res, err := p.PublishTemplates(ctx)
	for _, r := range res {
		switch {
		case r.Commit == "":
			fmt.Fprintf(stdout, "%s: up to date\n", r.Repo)
		default:
			fmt.Fprintf(stdout, "%s: %d file(s) sent, %d deleted (commit %s)\n", r.Repo, len(r.Changed), len(r.Deleted), r.Commit[:7])
		}
	}
	return err
}

// assignHandler is POST /api/assignments: the same as `app assign`, for a reviewer's tools,
// behind a bearer token.
func assignHandler(p *repos.Provisioner, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fail := func(code int, msg string) {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
		if token == "" || p == nil {
			fail(http.StatusNotFound, "assignments over HTTP are disabled: set HOLDFAST_ADMIN_TOKEN, HOLDFAST_ORG and HOLDFAST_INSTALLATION_ID")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			fail(http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		var req repos.AssignRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(http.StatusBadRequest, "body must be JSON {challenge, user, format, deadline, language}: "+err.Error())
			return
		}
		if req.Format == "take-home" {
			fail(http.StatusUnprocessableEntity, errTakeHomeByInvite.Error())
			return
		}
		a, err := p.Assign(r.Context(), req)
		if errors.Is(err, repos.ErrInvalid) {
			fail(http.StatusUnprocessableEntity, err.Error())
			return
		}
		if err != nil {
			fail(http.StatusBadGateway, err.Error())
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": a.ID, "repo": a.Owner + "/" + a.Name, "user": a.User,
			"challenge": a.Challenge, "format": a.Format, "deadline": a.Deadline})
	})
}
