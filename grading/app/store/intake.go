package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Intake stores push deliveries with group commit: deliveries that arrive while a transaction is
// being written wait, and the next transaction stores them together, so that a burst costs
// Postgres a few statements and one commit per batch instead of a dozen statements and a commit
// per delivery. At most Committers transactions are open at once: the rest of a burst queues here,
// in Go, rather than as many busy backends fighting over Postgres' CPU. Each caller is answered
// after its batch committed (a 202 means stored), and a batch that fails fails every caller in
// it: nothing of it is stored. The queue has no cap of its own: each entry is a caller waiting
// (an HTTP request in flight, which GitHub abandons after 10 s), never more.
type Intake struct {
	pool    *pgxpool.Pool
	enqueue Enqueue
	opts    IntakeOpts

	mu     sync.Mutex
	queue  []*intakeReq
	active int // committers running
}

// IntakeOpts tunes an Intake; the zero value is the defaults.
type IntakeOpts struct {
	// Committers is how many batches may be written at once, each on its own connection
	// (default 4).
	Committers int
	// Window is how long a committer waits for more deliveries before it writes a batch
	// (default 0: it takes what queued while the others wrote, never waiting on purpose).
	Window time.Duration
}

const (
	// maxBatch is the most deliveries one transaction stores.
	maxBatch = 64
	// batchTimeout bounds one batch's transaction, from taking a connection to the commit:
	// GitHub gives up on a delivery after 10 s.
	batchTimeout = 10 * time.Second
)

// Enqueue inserts in tx the jobs of the runs a batch created: called once per batch, before its
// commit, with every run it stored.
type Enqueue func(ctx context.Context, tx pgx.Tx, runs []NewRun) error

// NewRun is a run a delivery created and the runs it superseded.
type NewRun struct {
	ID         int64
	Superseded []int64
}

// IncomingPush is a push (or a re-requested check run or suite) to grade.
type IncomingPush struct {
	Delivery         string
	RepoID           int64
	Owner, Name      string // the repository's, for an assignment recorded without its id
	SHA, Branch, Who string
}

func (p IncomingPush) check() error {
	if p.Delivery == "" {
		return fmt.Errorf("a push to %s/%s without a delivery id: a redelivery could not be told from a new push", p.Owner, p.Name)
	}
	return nil
}

// PushOutcome says what storing an IncomingPush did.
type PushOutcome int

// Outcomes of an IncomingPush.
const (
	// PushQueued: a submission, its run and their jobs were stored.
	PushQueued PushOutcome = iota + 1
	// PushSeen: the delivery was stored before; nothing new.
	PushSeen
	// PushNoAssignment: the repository is no assignment's; nothing stored.
	PushNoAssignment
	// PushRefactor: the assignment is a refactor challenge's, which compares pull requests
	// instead of grading pushes; nothing stored (the caller takes the comparison path).
	PushRefactor
)

// PushResult is what storing an IncomingPush did.
type PushResult struct {
	Outcome    PushOutcome
	Assignment Assignment // unless PushNoAssignment
	Run        NewRun     // if PushQueued
}

type intakeReq struct {
	push IncomingPush
	done chan intakeAnswer // buffered: a committer never waits on a caller
}

type intakeAnswer struct {
	res PushResult
	err error
}

// NewIntake returns an Intake writing to s; enqueue adds each batch's jobs.
func (s *Store) NewIntake(enqueue Enqueue, opts *IntakeOpts) *Intake {
	in := &Intake{pool: s.Pool, enqueue: enqueue}
	if opts != nil {
		in.opts = *opts
	}
	if in.opts.Committers <= 0 {
		in.opts.Committers = 4
	}
	return in
}

// Store stores p with whatever deliveries are waiting beside it and returns once their
// transaction committed or failed. If ctx ends first, Store returns its error; the batch may
// still commit (a redelivery then finds the delivery stored).
func (in *Intake) Store(ctx context.Context, p IncomingPush) (PushResult, error) {
	if err := p.check(); err != nil {
		return PushResult{}, err
	}
	r := &intakeReq{push: p, done: make(chan intakeAnswer, 1)}
	in.mu.Lock()
	in.queue = append(in.queue, r)
	lead := in.active < in.opts.Committers
	if lead {
		in.active++
	}
	in.mu.Unlock()
	if lead {
		// The committer is a goroutine of its own, so that this caller is answered when its
		// batch commits, not when the queue is empty.
		go in.commit()
	}
	select {
	case a := <-r.done:
		return a.res, a.err
	case <-ctx.Done():
		return PushResult{}, fmt.Errorf("store delivery %s: %w", p.Delivery, context.Cause(ctx))
	}
}

// StoreAlone stores p in a transaction of its own, at once: for a delivery that failed in a
// batch, so that a delivery that fails every time cannot fail the others again.
func (in *Intake) StoreAlone(ctx context.Context, p IncomingPush) (PushResult, error) {
	if err := p.check(); err != nil {
		return PushResult{}, err
	}
	res, err := in.write(ctx, []IncomingPush{p})
	if err != nil {
		return PushResult{}, err
	}
	return res[0], nil
}

// commit writes batches until the queue is empty.
func (in *Intake) commit() {
	for {
		if in.opts.Window > 0 {
			time.Sleep(in.opts.Window)
		}
		in.mu.Lock()
		if len(in.queue) == 0 {
			in.active--
			in.mu.Unlock()
			return
		}
		k := min(len(in.queue), maxBatch)
		batch := slices.Clone(in.queue[:k])
		in.queue = slices.Delete(in.queue, 0, k)
		in.mu.Unlock()

		pushes := make([]IncomingPush, len(batch))
		for i, r := range batch {
			pushes[i] = r.push
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		res, err := in.write(ctx, pushes)
		cancel()
		for i, r := range batch {
			if err != nil {
				r.done <- intakeAnswer{err: err}
			} else {
				r.done <- intakeAnswer{res: res[i]}
			}
		}
	}
}

// write stores pushes in one transaction: it finds their assignments, claims their deliveries,
// creates a submission and a run for each fresh one (in the order given: a later push of a
// branch supersedes an earlier one), enqueues their jobs and commits.
func (in *Intake) write(ctx context.Context, pushes []IncomingPush) ([]PushResult, error) {
	res := make([]PushResult, len(pushes))
	err := pgx.BeginFunc(ctx, in.pool, func(tx pgx.Tx) error {
		if err := findAssignments(ctx, tx, pushes, res); err != nil {
			return err
		}
		var ids []string
		for i, p := range pushes {
			if res[i].Outcome == 0 {
				ids = append(ids, p.Delivery)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		fresh, err := claimDeliveries(ctx, tx, ids)
		if err != nil {
			return err
		}
		var subs []Submission
		var idx []int
		for i, p := range pushes {
			if res[i].Outcome != 0 {
				continue
			}
			if !fresh[p.Delivery] {
				res[i].Outcome = PushSeen
				continue
			}
			delete(fresh, p.Delivery) // the same delivery twice in a batch: the second is seen
			subs = append(subs, Submission{AssignmentID: res[i].Assignment.ID, SHA: p.SHA, Ref: "refs/heads/" + p.Branch,
				Branch: p.Branch, Pusher: p.Who, DeliveryID: p.Delivery})
			idx = append(idx, i)
		}
		created, err := createRuns(ctx, tx, subs)
		if err != nil {
			return err
		}
		for k, i := range idx {
			res[i].Outcome, res[i].Run = PushQueued, created[k]
		}
		if len(created) == 0 {
			return nil
		}
		return in.enqueue(ctx, tx, created)
	})
	if err != nil {
		return nil, fmt.Errorf("store %d deliveries in one transaction: %w", len(pushes), err)
	}
	return res, nil
}

// findAssignments looks up each push's assignment as AssignmentByRepo does (by repository id,
// else by name) and whether its challenge is a refactor, in one statement; it sets the outcome
// of the pushes that will store nothing.
func findAssignments(ctx context.Context, tx pgx.Tx, pushes []IncomingPush, res []PushResult) error {
	repoIDs, owners, names := make([]int64, len(pushes)), make([]string, len(pushes)), make([]string, len(pushes))
	for i, p := range pushes {
		repoIDs[i], owners[i], names[i] = p.RepoID, p.Owner, p.Name
	}
	rows, err := tx.Query(ctx, `SELECT q.i, a.id, a.installation_id, a.repo_id, a.repo_owner, a.repo_name, a.challenge,
			a.user_login, a.format, a.deadline, coalesce('refactor' = ANY(c.formats), false)
		FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS q(repo_id, owner, name, i)
		CROSS JOIN LATERAL (SELECT * FROM assignments a
			WHERE a.repo_id=q.repo_id OR (lower(a.repo_owner)=lower(q.owner) AND lower(a.repo_name)=lower(q.name))
			ORDER BY (a.repo_id=q.repo_id) DESC NULLS LAST LIMIT 1) a
		LEFT JOIN challenges c ON c.slug = a.challenge`, repoIDs, owners, names)
	if err != nil {
		return fmt.Errorf("look up assignments: %w", err)
	}
	found := make([]bool, len(pushes))
	for rows.Next() {
		var i int
		var a Assignment
		var repo *int64
		var refactor bool
		if err := rows.Scan(&i, &a.ID, &a.InstallationID, &repo, &a.Owner, &a.Name, &a.Challenge, &a.User, &a.Format, &a.Deadline, &refactor); err != nil {
			rows.Close()
			return fmt.Errorf("look up assignments: %w", err)
		}
		if repo != nil {
			a.RepoID = *repo
		}
		i-- // ordinality counts from 1
		found[i], res[i].Assignment = true, a
		if refactor {
			res[i].Outcome = PushRefactor
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up assignments: %w", err)
	}
	for i := range pushes {
		if !found[i] {
			res[i].Outcome = PushNoAssignment
		}
	}
	return nil
}

// claimDeliveries records the delivery ids, in sorted order so that two batches never wait on
// each other's ids in opposite orders, and returns those that were new.
func claimDeliveries(ctx context.Context, tx pgx.Tx, ids []string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `INSERT INTO deliveries (id, event) SELECT id, 'grade' FROM unnest($1::text[]) AS id ORDER BY id
		ON CONFLICT DO NOTHING RETURNING id`, ids)
	if err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	fresh := make(map[string]bool, len(claimed))
	for _, id := range claimed {
		fresh[id] = true
	}
	return fresh, nil
}

// createRunsAtOnce is CreateRun for many deliveries of distinct branches (assignment and
// branch) in one statement: for each, a submission received when GitHub first tried to deliver
// it (if the recovery job asked for it again; else now), its run, and the older unfinished runs
// of its branch superseded by it, unless a newer push of the branch is known, which supersedes
// the new run instead. Every part reads the rows as they were before the statement, as
// CreateRun's later queries cannot see its new rows either (they exclude them).
const createRunsAtOnce = `WITH q AS (
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
			WITH ORDINALITY AS q(assignment_id, sha, ref, pusher, delivery, branch, i)),
	at AS (
		SELECT q.*, COALESCE(rd.delivered_at, now()) AS at FROM q LEFT JOIN redeliveries rd ON rd.guid = q.delivery),
	newer AS (
		SELECT at.i, n.id FROM at CROSS JOIN LATERAL (
			SELECT r.id FROM runs r JOIN submissions s ON s.id=r.submission_id
			WHERE s.assignment_id=at.assignment_id AND r.branch=at.branch AND s.created_at > at.at
			ORDER BY s.created_at DESC, r.id DESC LIMIT 1) n),
	sub AS (
		INSERT INTO submissions (assignment_id, sha, ref, pusher, delivery_id, created_at)
		SELECT assignment_id, sha, ref, pusher, delivery, at FROM at ORDER BY i
		RETURNING id, delivery_id),
	run AS (
		INSERT INTO runs (submission_id, branch, status, superseded_by)
		SELECT sub.id, at.branch, CASE WHEN newer.id IS NULL THEN 'queued' ELSE 'superseded' END, newer.id
		FROM at JOIN sub ON sub.delivery_id = at.delivery LEFT JOIN newer ON newer.i = at.i ORDER BY at.i
		RETURNING id, submission_id),
	mine AS (
		SELECT at.i, at.assignment_id, at.branch, at.at, run.id AS run_id, newer.id IS NOT NULL AS late
		FROM at JOIN sub ON sub.delivery_id = at.delivery JOIN run ON run.submission_id = sub.id
		LEFT JOIN newer ON newer.i = at.i),
	old AS (
		UPDATE runs r SET status='superseded', superseded_by=mine.run_id FROM mine, submissions s
		WHERE NOT mine.late AND r.submission_id=s.id AND s.assignment_id=mine.assignment_id AND r.branch=mine.branch
			AND r.status IN ('queued','in_progress') AND s.created_at <= mine.at
		RETURNING mine.i, r.id)
	SELECT mine.i, mine.run_id, ARRAY(SELECT old.id FROM old WHERE old.i = mine.i ORDER BY old.id) FROM mine ORDER BY mine.i`

// createRuns stores subs in order, as CreateRun would one after another. Pushes of distinct
// branches (assignment and branch) cannot supersede each other: they take one statement
// together (createRunsAtOnce). A batch with pushes of the same branch takes it in waves, the
// first push of each branch, then the second, and so on, so that a later push sees the earlier
// one's run and supersedes it (both count as received at the transaction's start).
func createRuns(ctx context.Context, tx pgx.Tx, subs []Submission) ([]NewRun, error) {
	type branch struct {
		assignment int64
		name       string
	}
	seen := make(map[branch]int, len(subs))
	var waves [][]int // indexes into subs
	for i, s := range subs {
		k := branch{s.AssignmentID, s.Branch}
		w := seen[k]
		seen[k] = w + 1
		if w == len(waves) {
			waves = append(waves, nil)
		}
		waves[w] = append(waves[w], i)
	}
	runs := make([]NewRun, len(subs))
	for _, wave := range waves {
		batch := make([]Submission, len(wave))
		for j, i := range wave {
			batch[j] = subs[i]
		}
		created, err := createRunsDistinct(ctx, tx, batch)
		if err != nil {
			return nil, err
		}
		for j, i := range wave {
			runs[i] = created[j]
		}
	}
	return runs, nil
}

// createRunsDistinct stores subs, of distinct branches, with createRunsAtOnce.
func createRunsDistinct(ctx context.Context, tx pgx.Tx, subs []Submission) ([]NewRun, error) {
	n := len(subs)
	assignments, shas, refs, pushers, deliveries, branches := make([]int64, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	for i, s := range subs {
		assignments[i], shas[i], refs[i], pushers[i], deliveries[i], branches[i] = s.AssignmentID, s.SHA, s.Ref, s.Pusher, s.DeliveryID, s.Branch
	}
	rows, err := tx.Query(ctx, createRunsAtOnce, assignments, shas, refs, pushers, deliveries, branches)
	if err != nil {
		return nil, fmt.Errorf("create %d runs: %w", n, err)
	}
	runs := make([]NewRun, n)
	got := 0
	for rows.Next() {
		var i int
		var r NewRun
		if err := rows.Scan(&i, &r.ID, &r.Superseded); err != nil {
			rows.Close()
			return nil, fmt.Errorf("create %d runs: %w", n, err)
		}
		if len(r.Superseded) == 0 {
			r.Superseded = nil
		}
		runs[i-1], got = r, got+1 // ordinality counts from 1
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("create %d runs: %w", n, err)
	}
	if got != n {
		return nil, fmt.Errorf("create %d runs: %d created", n, got)
	}
	return runs, nil
}
