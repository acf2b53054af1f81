package gracefulshutdown

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// transfer is the contract's transfer object; WorkMS is only sent, never echoed.
type transfer struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	WorkMS int    `json:"-"`
}

// body is the transfer as the contract's JSON, work_ms early: a timeline keeps a body's first
// 120 bytes, and how long a transfer works says why it was in flight.
func (t transfer) body() []byte {
	return scenarios.JSON(struct {
		ID     string `json:"id"`
		WorkMS int    `json:"work_ms"`
		Amount int64  `json:"amount"`
		From   string `json:"from"`
		To     string `json:"to"`
	}{t.ID, t.WorkMS, t.Amount, t.From, t.To})
}

func newID(tag string) string {
	return "gs-" + tag + "-" + scenarios.RandomHex(5)
}

// newTransfers returns n transfers between accounts of their own, so that two scenarios never
// touch the same rows.
func newTransfers(tag string, n, workMS int) []transfer {
	base := newID(tag)
	ts := make([]transfer, n)
	for i := range ts {
		ts[i] = transfer{ID: fmt.Sprintf("%s-%d", base, i+1), From: fmt.Sprintf("%s-from-%d", base, i+1),
			To: fmt.Sprintf("%s-to-%d", base, i+1), Amount: int64(100 + 7*i), WorkMS: workMS}
	}
	return ts
}

// fresh sends one request on a connection of its own, closed after the answer, as a new client
// or a Kubernetes probe does: no connection kept from an earlier request can carry it, so what
// it sees after SIGTERM is what a newcomer sees. Do's pooled connections could, so it has a
// client of its own, and puts the request on the timeline itself.
func fresh(ctx context.Context, h *scenarios.Harness, r scenarios.Request) scenarios.Response {
	answered := h.Sent(r)
	out := send(ctx, h, r)
	answered(out)
	return out
}

// send is fresh's request and answer, unrecorded.
func send(ctx context.Context, h *scenarios.Harness, r scenarios.Request) scenarios.Response {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, h.Target.AppURL()+r.Path, body)
	if err != nil {
		return scenarios.Response{Err: err}
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return scenarios.Response{Err: err, Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return scenarios.Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Duration: time.Since(start), Err: err}
}

// post sends a transfer; timeout 0 gives it its work time plus the grace period.
func post(ctx context.Context, h *scenarios.Harness, t transfer, timeout time.Duration) scenarios.Response {
	if timeout == 0 {
		timeout = time.Duration(t.WorkMS)*time.Millisecond + Grace + 2*time.Second
	}
	return fresh(ctx, h, scenarios.Request{Method: http.MethodPost, Path: "/api/transfers", Body: t.body(), Timeout: timeout})
}

// answer is a response and when it ended.
type answer struct {
	scenarios.Response
	end time.Time
}

// postAll sends every transfer at once, each on its own connection; each channel gets one answer.
func postAll(ctx context.Context, h *scenarios.Harness, ts []transfer) []chan answer {
	chs := make([]chan answer, len(ts))
	for i, t := range ts {
		chs[i] = make(chan answer, 1)
		go func() {
			r := post(ctx, h, t, 0)
			chs[i] <- answer{Response: r, end: time.Now()}
		}()
	}
	return chs
}

func done(ch chan answer) bool { return len(ch) > 0 }

// collect waits for every answer; each request has its own deadline.
func collect(chs []chan answer) []answer {
	out := make([]answer, len(chs))
	for i, ch := range chs {
		out[i] = <-ch
		ch <- out[i] // a later collect sees it too
	}
	return out
}

// sent is when a signal was sent: just before the call (the strict clock, for the grace period)
// and once the sandbox had delivered it (the lenient one, for what must change after it).
type sent struct {
	sent, delivered time.Time
}

// signalAfter waits, then signals the app's main process.
func signalAfter(ctx context.Context, h *scenarios.Harness, wait time.Duration, signal string) (sent, error) {
	if err := pause(ctx, wait); err != nil {
		return sent{}, err
	}
	s := sent{sent: time.Now()}
	if err := h.Target.Kill(ctx, scenarios.App, signal); err != nil {
		return sent{}, fmt.Errorf("send %s to the app: %w", signal, err)
	}
	s.delivered = time.Now()
	return s, nil
}

func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// exited reports whether the app's process has ended. A connection to a container that is gone
// hangs rather than being refused, so after a timeout this tells "refused" from "hung".
func exited(ctx context.Context, h *scenarios.Harness) bool {
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := h.Target.Wait(wctx, scenarios.App)
	return err == nil
}

// exit is how the app's process ended after a signal, if it did within the grace period.
type exit struct {
	exited bool
	code   int
	after  time.Duration // from the signal to the exit, or to when the wait gave up
	err    error         // the grader's
}

// waitExit waits for the process to exit until the grace period (plus the sandbox's slack) is over.
func waitExit(ctx context.Context, h *scenarios.Harness, sig sent) exit {
	wctx, cancel := context.WithDeadline(ctx, sig.sent.Add(Grace+exitSlack))
	defer cancel()
	code, err := h.Target.Wait(wctx, scenarios.App)
	switch {
	case err != nil && wctx.Err() != nil && ctx.Err() == nil:
		return exit{after: time.Since(sig.sent)}
	case err != nil:
		return exit{err: fmt.Errorf("wait for the app to exit: %w", err)}
	}
	return exit{exited: true, code: code, after: time.Since(sig.sent)}
}

// judge holds an exit to the contract: gone within the grace period, with code 0. answered are
// the answers to the transfers in flight at SIGTERM, when the scenario knows them (nil if not).
func (e exit) judge(expected, stillRunning string, answered []answer) error {
	switch {
	case e.err != nil:
		return e.err
	case !e.exited:
		return scenarios.Failf(expected,
			"Handle SIGTERM (as PID 1 in a container, Node and Python get no default handler: without one the signal is ignored), drain, then exit.",
			"still running %s after SIGTERM%s", e.after.Round(100*time.Millisecond), stillRunning)
	case e.code != 0:
		return scenarios.Failf(expected, exitCodeHint(e.code, answered), "exit code %d, %s after SIGTERM", e.code, e.after.Round(10*time.Millisecond))
	}
	return nil
}

// exitCodeHint reads an exit code, and whether the transfers in flight were answered first.
func exitCodeHint(code int, answered []answer) string {
	switch code {
	case 137:
		return "Exit code 137 means the process was killed with SIGKILL (or ran out of memory): exit by yourself, with code 0, as soon as the requests in flight are answered, and stay within the memory limit."
	case 143:
		return "Exit code 143 means the process died of SIGTERM itself: install a handler that drains and exits 0."
	}
	dropped := 0
	for _, a := range answered {
		if a.Status != http.StatusCreated {
			dropped++
		}
	}
	switch {
	case dropped > 0:
		return fmt.Sprintf("The process exited with code %d before %d of the %d transfers in flight got their 201: wait for them, then exit with 0. ", code, dropped, len(answered)) +
			"The server reporting that it was closed is the normal end of serving, not a failure (Go: ListenAndServe returns http.ErrServerClosed the moment " +
			"Shutdown starts, so log.Fatal on it exits with 1 before anything drained; return from main after Shutdown returns)."
	case len(answered) > 0:
		return fmt.Sprintf("Every transfer in flight got its 201, then the process exited with code %d: after a clean drain, exit with 0 "+
			"(Go: return from main; Node: process.exit(0); Python: sys.exit(0)), and keep other codes for real failures.", code)
	}
	return "Exit with code 0 once the drain is done (Go: return from main; Node: process.exit(0); Python: sys.exit(0)), and keep other codes for real failures."
}

// persistent is one client connection kept alive across requests, as a load balancer or an
// HTTP client pool keeps it.
type persistent struct {
	conn   net.Conn
	br     *bufio.Reader
	last   *http.Request
	failed bool // the last receive got no answer
	status int  // the last answer's status, 0 if none
}

func dial(ctx context.Context, h *scenarios.Harness) (*persistent, error) {
	u, err := url.Parse(h.Target.AppURL())
	if err != nil {
		return nil, fmt.Errorf("app url: %w", err)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return &persistent{conn: conn, br: bufio.NewReader(conn)}, nil
}

func (p *persistent) send(req *http.Request) error {
	p.last = req
	_ = p.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return req.Write(p.conn)
}

// receive reads the answer to the last request and reports whether the connection is over: the
// app closed it, or said it would (Connection: close).
func (p *persistent) receive(deadline time.Time) (closed bool) {
	_ = p.conn.SetReadDeadline(deadline)
	resp, err := http.ReadResponse(p.br, p.last)
	if err != nil {
		p.failed, p.status = true, 0
		return true
	}
	p.status = resp.StatusCode
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	p.failed = err != nil
	return err != nil || resp.Close
}

func (p *persistent) close() { _ = p.conn.Close() }

// open reports whether the app still holds the connection open: nothing arrives within a
// moment, neither an answer nor the end of the connection.
func (p *persistent) open() bool {
	_ = p.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := p.br.Peek(1)
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// awaitQuiet waits, up to limit, until no other session of the database is running a
// statement or holding a transaction open. Past limit it returns nil: the caller looks anyway.
func awaitQuiet(ctx context.Context, h *scenarios.Harness, conn *pgx.Conn, limit time.Duration) error {
	var err error
	h.WaitFor(ctx, limit, 100*time.Millisecond, func(ctx context.Context) bool {
		var busy int
		err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND datname = current_database() AND state <> 'idle'`).Scan(&busy)
		return err != nil || busy == 0
	})
	if err != nil {
		return fmt.Errorf("read pg_stat_activity: %w", err)
	}
	return ctx.Err()
}

func postRequest(t transfer) *http.Request {
	req := mustRequest(http.MethodPost, "/api/transfers", t.body())
	req.Header.Set("Content-Type", "application/json")
	return req
}

func mustRequest(method, path string, body []byte) *http.Request {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://app"+path, r)
	if err != nil {
		panic(err) // constant paths only
	}
	return req
}

// expectCreated checks a 201 that echoes the transfer.
func expectCreated(r scenarios.Response, t transfer, what string) error {
	if r.Status != http.StatusCreated {
		return scenarios.Failf("201 Created for "+what, hintFor(r), "%s", r.Describe())
	}
	return expectBody(r, t, "the 201 for "+what)
}

// expectBody checks a response body is the transfer.
func expectBody(r scenarios.Response, t transfer, what string) error {
	var got transfer
	if err := scenarios.Decode(r, &got, what); err != nil {
		return err
	}
	if got.ID != t.ID || got.From != t.From || got.To != t.To || got.Amount != t.Amount {
		return scenarios.Failf(fmt.Sprintf(`%s to be {"id":%q,"from":%q,"to":%q,"amount":%d}`, what, t.ID, t.From, t.To, t.Amount),
			"Answer with the transfer as stored: id, from, to and amount.", "%s", r.Describe())
	}
	return nil
}

// line is one row of the ledger.
type line struct {
	account string
	amount  int64
}

// stored is what Postgres holds for one transfer id.
type stored struct {
	found bool
	t     transfer
	lines []line
}

// complete reports whether the transfer is there exactly as sent, with its debit and its credit.
func (s stored) complete(want transfer) bool {
	if !s.found || s.t.From != want.From || s.t.To != want.To || s.t.Amount != want.Amount || len(s.lines) != 2 {
		return false
	}
	debit, credit := false, false
	for _, l := range s.lines {
		debit = debit || (l.account == want.From && l.amount == -want.Amount)
		credit = credit || (l.account == want.To && l.amount == want.Amount)
	}
	return debit && credit
}

func (s stored) describe() string {
	var b strings.Builder
	if s.found {
		fmt.Fprintf(&b, "a transfers row (%s → %s, %d)", s.t.From, s.t.To, s.t.Amount)
	} else {
		b.WriteString("no transfers row")
	}
	if len(s.lines) == 0 {
		b.WriteString(" and no ledger lines")
		return b.String()
	}
	fmt.Fprintf(&b, " and %d ledger line(s):", len(s.lines))
	for _, l := range s.lines {
		fmt.Fprintf(&b, " (%s, %+d)", l.account, l.amount)
	}
	return b.String()
}

func readStored(ctx context.Context, conn *pgx.Conn, id string) (stored, error) {
	var s stored
	err := conn.QueryRow(ctx, `SELECT from_account, to_account, amount FROM transfers WHERE id = $1`, id).
		Scan(&s.t.From, &s.t.To, &s.t.Amount)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return s, schemaFailure(err)
	default:
		s.found, s.t.ID = true, id
	}
	rows, err := conn.Query(ctx, `SELECT account, amount FROM ledger WHERE transfer_id = $1 ORDER BY amount`, id)
	if err != nil {
		return s, schemaFailure(err)
	}
	defer rows.Close()
	for rows.Next() {
		var l line
		if err := rows.Scan(&l.account, &l.amount); err != nil {
			return s, schemaFailure(err)
		}
		s.lines = append(s.lines, l)
	}
	if err := rows.Err(); err != nil {
		return s, schemaFailure(err)
	}
	return s, nil
}

// schemaFailure tells the learner when the tables are not the brief's; anything else is the
// grader's error.
func schemaFailure(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "42") {
		return scenarios.Failf("the tables transfers (id, from_account, to_account, amount) and ledger (transfer_id, account, amount) as the brief defines them",
			"Create both tables at start-up with the brief's CREATE TABLE statements: the grader reads them.", "%s", pgErr.Message)
	}
	return fmt.Errorf("read the postgres sidecar: %w", err)
}

// expectCommitted checks every transfer is in Postgres, complete.
func expectCommitted(ctx context.Context, h *scenarios.Harness, ts []transfer, what string) error {
	conn, err := h.Postgres(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, t := range ts {
		s, err := readStored(ctx, conn, t.ID)
		if err != nil {
			return err
		}
		if !s.complete(t) {
			return scenarios.Failf(fmt.Sprintf("%s to be in Postgres: its transfers row and two ledger lines, (%s, -%d) and (%s, +%d)", what, t.From, t.Amount, t.To, t.Amount),
				"Answer 201 only after COMMIT, and write the transfer row, the debit and the credit in that one transaction.",
				"transfer %s: %s", t.ID, s.describe())
		}
	}
	return nil
}

// expectAbsent checks none of the transfers left anything in Postgres.
func expectAbsent(ctx context.Context, h *scenarios.Harness, ts []transfer, what string) error {
	conn, err := h.Postgres(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, t := range ts {
		s, err := readStored(ctx, conn, t.ID)
		if err != nil {
			return err
		}
		if s.found || len(s.lines) > 0 {
			return scenarios.Failf(fmt.Sprintf("nothing in Postgres for %s", what),
				"Refuse new work before touching the database: a refused request must change nothing.",
				"transfer %s: %s", t.ID, s.describe())
		}
	}
	return nil
}

// expectConsistent checks the whole database: every transfer has exactly its debit and its
// credit, and no ledger line lacks its transfer.
func expectConsistent(ctx context.Context, h *scenarios.Harness) error {
	conn, err := h.Postgres(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ids []string
	rows, err := conn.Query(ctx, `
		SELECT t.id FROM transfers t LEFT JOIN ledger l ON l.transfer_id = t.id
		 GROUP BY t.id, t.from_account, t.to_account, t.amount
		HAVING count(l.transfer_id) <> 2
		    OR count(*) FILTER (WHERE l.account = t.from_account AND l.amount = -t.amount) <> 1
		    OR count(*) FILTER (WHERE l.account = t.to_account AND l.amount = t.amount) <> 1
		UNION ALL
		SELECT DISTINCT l.transfer_id FROM ledger l WHERE NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id = l.transfer_id)
		LIMIT 5`)
	if err != nil {
		return schemaFailure(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return schemaFailure(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return schemaFailure(err)
	}
	if len(ids) == 0 {
		return nil
	}
	s, err := readStored(ctx, conn, ids[0])
	if err != nil {
		return err
	}
	return scenarios.Failf("every transfer in Postgres to have exactly its debit and its credit line (all or nothing)",
		"Write the transfer row and both ledger lines in one transaction, so no crash or error can leave part of it.",
		"%d transfer(s) are incomplete, e.g. %s: %s", len(ids), ids[0], s.describe())
}

func shortErr(err error) string {
	s := err.Error()
	for _, known := range []string{"connection refused", "connection reset", "EOF", "no route to host"} {
		if strings.Contains(s, known) {
			return known
		}
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
