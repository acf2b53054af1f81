package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
)

func TestReviewerTokensAndSessions(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	token, err := st.AddReviewer(ctx, "rita")
	if err != nil || !strings.HasPrefix(token, "hfr_") || len(token) < 40 {
		t.Fatalf("AddReviewer: %q %v; want an hfr_ token of 256 bits", token, err)
	}
	var stored int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM reviewers WHERE token_hash = convert_to($1, 'UTF8')`, token).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the token itself is stored (%d rows, %v); only its hash may be", stored, err)
	}
	r, err := st.ReviewerByToken(ctx, token)
	if err != nil || r.Login != "rita" {
		t.Fatalf("ReviewerByToken: %+v %v", r, err)
	}
	for _, bad := range []string{"", "hfr_", token + "x", strings.ToUpper(token)} {
		if _, err := st.ReviewerByToken(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token %q: %v; want ErrNotFound", bad, err)
		}
	}
	if _, err := st.AddReviewer(ctx, "no spaces"); err == nil {
		t.Fatal("a login with a space was accepted")
	}

	id, sess, err := st.CreateSession(ctx, r.ID, time.Hour)
	if err != nil || sess.Reviewer.Login != "rita" || len(sess.CSRF) < 40 || time.Until(sess.Expires) < 59*time.Minute {
		t.Fatalf("CreateSession: %+v %v", sess, err)
	}
	got, err := st.SessionByID(ctx, id)
	if err != nil || got.CSRF != sess.CSRF {
		t.Fatalf("SessionByID: %+v %v", got, err)
	}
	expired, _, err := st.CreateSession(ctx, r.ID, -time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByID(ctx, expired); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: %v; want ErrNotFound", err)
	}
	// A new token for the same login replaces the old one and ends its sessions.
	token2, err := st.AddReviewer(ctx, "rita")
	if err != nil || token2 == token {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := st.ReviewerByToken(ctx, token); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old token after rotation: %v", err)
	}
	if _, err := st.SessionByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after rotation: %v", err)
	}
	id, _, _ = st.CreateSession(ctx, r.ID, time.Hour)
	if err := st.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after sign-out: %v", err)
	}
}

func sha(c string) string { return strings.Repeat(c, 40) }

// push records a push of commit c to branch, received at the given time.
func push(t *testing.T, st *store.Store, a int64, c, branch, pusher string, at time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	var runID int64
	err := pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) (err error) {
		runID, _, err = store.CreateRun(ctx, tx, store.Submission{AssignmentID: a, SHA: sha(c), Ref: "refs/heads/" + branch, Branch: branch,
			Pusher: pusher, DeliveryID: c + at.String()})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE submissions SET created_at=$2 WHERE id=(SELECT submission_id FROM runs WHERE id=$1)`, runID, at)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return runID
}

func newTakeHome(t *testing.T, st *store.Store, user string, deadline time.Time) store.TakeHome {
	t.Helper()
	ctx := context.Background()
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "c", Title: "c"}}); err != nil {
		t.Fatal(err)
	}
	th, err := st.CreateTakeHome(ctx, store.TakeHome{Assignment: store.Assignment{InstallationID: 1, Owner: "org", Name: "c-" + user,
		Challenge: "c", User: user, Deadline: &deadline}, InvitedBy: "rita", InvitationSHA: sha("0")})
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func setDeadline(t *testing.T, st *store.Store, id int64, d time.Time) {
	t.Helper()
	if _, err := st.Pool.Exec(context.Background(), `UPDATE assignments SET deadline=$2 WHERE id=$1`, id, d); err != nil {
		t.Fatal(err)
	}
}

// TestFinalCommitIsTheLastPushBeforeTheDeadline plays a candidate's timeline and checks which
// commit the take-home's close fixes as final.
func TestFinalCommitIsTheLastPushBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	now := time.Now()
	deadline := now.Add(-time.Minute).Truncate(time.Millisecond) // passed, settle time included
	th := newTakeHome(t, st, "carol", now.Add(time.Hour))
	setDeadline(t, st, th.ID, deadline)
	at := func(d time.Duration) time.Time { return deadline.Add(d) }
	push(t, st, th.ID, "0", "main", "holdfast-test[bot]", at(-50*time.Minute)) // the invitation commit
	push(t, st, th.ID, "a", "main", "carol", at(-40*time.Minute))
	push(t, st, th.ID, "e", "experiment", "carol", at(-30*time.Minute)) // another branch
	push(t, st, th.ID, "b", "main", "carol", at(-20*time.Minute))       // the last push before the deadline
	push(t, st, th.ID, "a", "main", "carol", at(-10*time.Minute))       // a re-run of a: dated by its first push
	push(t, st, th.ID, "c", "main", "carol", at(time.Second))           // after the deadline
	push(t, st, th.ID, "d", "main", "carol", at(2*time.Second))         // a force-push rewriting history

	due, err := st.DueTakeHomes(ctx)
	if err != nil || len(due) != 1 || due[0] != th.ID {
		t.Fatalf("due take-homes: %v %v; want [%d]", due, err, th.ID)
	}
	got, err := st.FreezeTakeHome(ctx, th.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.TakeHomeClosing || got.FinalSHA != sha("b") || got.FinalPushedAt == nil || !got.FinalPushedAt.Equal(at(-20*time.Minute)) {
		t.Fatalf("closed as %s at %s (pushed %v); want closing at %s", got.State, got.FinalSHA, got.FinalPushedAt, sha("b")[:7])
	}
	// A later push recorded as arriving before the deadline cannot move it any more.
	push(t, st, th.ID, "f", "main", "carol", at(-time.Second))
	if again, err := st.FreezeTakeHome(ctx, th.ID); err != nil || again.FinalSHA != sha("b") {
		t.Fatalf("second close: %s %v; the final commit must never change", again.FinalSHA, err)
	}

	pushes, err := st.Pushes(ctx, th.ID)
	if err != nil || len(pushes) != 8 {
		t.Fatalf("pushes: %d %v", len(pushes), err)
	}
	if !pushes[4].Repeat || pushes[1].Repeat || pushes[2].Branch != "experiment" {
		t.Fatalf("timeline flags: %+v", pushes)
	}

	// The final run belongs to no branch: a push to main does not supersede it.
	var runID int64
	err = pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) (err error) {
		var ok bool
		runID, ok, err = store.QueueFinalRun(ctx, tx, th.ID)
		if err == nil && !ok {
			t.Error("QueueFinalRun did nothing on a closing take-home")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) error {
		_, ok, err := store.QueueFinalRun(ctx, tx, th.ID)
		if ok {
			t.Error("QueueFinalRun queued a second final run")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	push(t, st, th.ID, "g", "main", "carol", time.Now())
	run, err := st.GetRun(ctx, runID)
	if err != nil || run.Status != "queued" || run.SHA != sha("b") {
		t.Fatalf("final run: %+v %v; want queued on %s", run, err, sha("b")[:7])
	}
	v := grading.Verdict{Challenge: "c", Status: grading.Passed, Score: 100}
	for i, want := range []bool{true, false} {
		err := pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) error {
			ok, err := store.CompleteFinalRun(ctx, tx, th.ID, runID, v)
			if ok != want {
				t.Errorf("CompleteFinalRun #%d: %v; want %v", i+1, ok, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	done, err := st.TakeHome(ctx, th.ID)
	if err != nil || done.State != store.TakeHomeDone || done.FinalScore == nil || *done.FinalScore != 100 || done.ClosedAt == nil {
		t.Fatalf("after the final verdict: %+v %v", done, err)
	}
	if pushes, _ := st.Pushes(ctx, th.ID); len(pushes) != 9 {
		t.Fatalf("the final run appears in the push timeline: %d pushes", len(pushes))
	}
}

func TestNoPushGradesTheInvitationCommit(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	th := newTakeHome(t, st, "dan", time.Now().Add(time.Hour))
	setDeadline(t, st, th.ID, time.Now().Add(-time.Minute))
	push(t, st, th.ID, "c", "main", "dan", time.Now()) // only after the deadline
	got, err := st.FreezeTakeHome(context.Background(), th.ID)
	if err != nil || got.FinalSHA != sha("0") || got.FinalPushedAt != nil {
		t.Fatalf("%+v %v; want the invitation commit", got, err)
	}
}

func TestExtensions(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	old := time.Now().Add(time.Hour).Truncate(time.Second)
	th := newTakeHome(t, st, "erin", old)
	if _, err := st.ExtendDeadline(ctx, th.ID, "rita", old.Add(-time.Minute)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("earlier deadline: %v; want ErrInvalid", err)
	}
	to := old.Add(24 * time.Hour)
	ext, err := st.ExtendDeadline(ctx, th.ID, "rita", to)
	if err != nil || !ext.Old.Equal(old) || !ext.New.Equal(to) || ext.By != "rita" {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	got, _ := st.TakeHome(ctx, th.ID)
	if !got.Deadline.Equal(to) {
		t.Fatalf("deadline %v; want %v", got.Deadline, to)
	}
	if due, _ := st.DueTakeHomes(ctx); len(due) != 0 {
		t.Fatalf("due: %v", due)
	}
	exts, err := st.Extensions(ctx, th.ID)
	if err != nil || len(exts) != 1 || exts[0].By != "rita" {
		t.Fatalf("extensions: %+v %v", exts, err)
	}
	setDeadline(t, st, th.ID, time.Now().Add(-time.Second))
	_, err = st.ExtendDeadline(ctx, th.ID, "rita", time.Now().Add(time.Hour))
	if !errors.Is(err, store.ErrDeadlinePassed) || !strings.Contains(err.Error(), "cannot be extended") {
		t.Fatalf("extend after the deadline: %v; want ErrDeadlinePassed", err)
	}
	if _, err := st.ExtendDeadline(ctx, 999999, "rita", to); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown take-home: %v", err)
	}
}
