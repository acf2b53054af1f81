package distributedlock

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// calls builds recorded store writes: "app-1 5 200" is a write by app-1 under token 5 that the
// store accepted, "app-2 4 409" one it refused, "- 5 200" one without X-Instance-Id.
func calls(t *testing.T, lines ...string) []write {
	t.Helper()
	var out []agent.Call
	at := time.Unix(1_700_000_000, 0)
	for i, l := range lines {
		f := strings.Fields(l)
		status, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatal(err)
		}
		hdr := map[string]string{"Fencing-Token": f[1]}
		if f[0] != "-" {
			hdr["X-Instance-Id"] = f[0]
		}
		out = append(out, agent.Call{Seq: i + 1, Method: http.MethodPost, Path: StorePath, Header: hdr,
			Body: `{"step":` + strconv.Itoa(i+1) + `}`, Start: at, End: at.Add(time.Millisecond),
			Status: status, Accepted: status == http.StatusOK})
		at = at.Add(300 * time.Millisecond)
	}
	return writesOf(out)
}

func TestCheckHistory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		fail  string // a fragment of the expected failure; "" means it passes
	}{
		{"one run", []string{"app-1 5 200", "app-1 5 200"}, ""},
		{"takeover then refused once", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-2 6 200"}, ""},
		{"token shared by two holders", []string{"app-1 5 200", "app-2 5 200"}, "token 5 after token 5"},
		{"writes on after a refusal", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-1 5 409"}, "stop writing under token 5"},
		{"no token", []string{"app-1 x 400"}, "integer Fencing-Token"},
		{"no instance", []string{"- 5 200"}, "X-Instance-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertFailure(t, checkHistory(calls(t, tt.lines...)), tt.fail)
		})
	}
}

func TestExpectComplete(t *testing.T) {
	t.Parallel()
	full := calls(t, "app-1 5 200", "app-1 5 200", "app-1 5 200", "app-1 5 200", "app-1 5 200")
	assertFailure(t, expectComplete(full, "app-1", 5, "the run"), "")
	assertFailure(t, expectComplete(full, "app-2", 5, "the run"), "from app-2")
	assertFailure(t, expectComplete(full[:4], "app-1", 5, "the run"), "steps 1 to 5")
	fast := calls(t, "app-1 5 200", "app-1 5 200", "app-1 5 200", "app-1 5 200", "app-1 5 200")
	for i := range fast {
		fast[i].Start = fast[0].Start.Add(time.Duration(i) * 10 * time.Millisecond)
		fast[i].End = fast[i].Start.Add(time.Millisecond)
	}
	assertFailure(t, expectComplete(fast, "app-1", 5, "the run"), "between steps")
}

func assertFailure(t *testing.T, err error, fragment string) {
	t.Helper()
	if fragment == "" {
		if err != nil {
			t.Fatalf("want no failure, got %v", err)
		}
		return
	}
	f, ok := scenarios.AsFailure(err)
	if !ok {
		t.Fatalf("want a failure mentioning %q, got %v", fragment, err)
	}
	if !strings.Contains(f.Expected+" "+f.Actual, fragment) {
		t.Fatalf("want a failure mentioning %q, got expected %q, actual %q", fragment, f.Expected, f.Actual)
	}
}

// TestDiagnosis: a refused first write is told from the store's record — a token that did not
// increase past one accepted before, or a run that started while another still wrote — and is
// never put down to the lock when the lock did its job.
func TestDiagnosis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lines   []string
		refused int    // index of the refused first write
		want    string // a fragment of the failure
		notWant string
	}{
		{"hi/lo blocks across replicas", []string{"app-1 1 200", "app-2 1001 200", "app-2 1001 200", "app-1 2 409"}, 3,
			"token 2 after token 1001: app-1 took the lock with token 2 after the store had accepted token 1001 from app-2", "started while"},
		{"counter in memory, restarted", []string{"app-1 7 200", "app-1 1 409"}, 1, "token 1 after token 7", "across replicas"},
		{"two runs at once", []string{"app-2 8 200", "app-1 7 409", "app-2 8 200"}, 1, "app-1's run under token 7 started while app-2's run under token 8 was still writing", "token 7 after token 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := calls(t, tt.lines...)
			err := explainRefusedStart(ws, ws[tt.refused])
			assertFailure(t, err, tt.want)
			f, _ := scenarios.AsFailure(err)
			if tt.notWant != "" && strings.Contains(f.Actual+f.Hint, tt.notWant) {
				t.Errorf("the failure says %q: %+v", tt.notWant, f)
			}
		})
	}
	ws := calls(t, "app-1 5 200", "app-2 5 200")
	assertFailure(t, explainTokenOrder(ws[0], ws[1]), "token 5 after token 5")
	// A holder refused after a takeover is not a refused start; a new run refused at once is.
	hist := calls(t, "app-1 5 200", "app-2 6 200", "app-1 5 409", "app-1 2 409")
	if starts := refusedStarts(hist, hist); len(starts) != 1 || starts[0].Token != 2 {
		t.Errorf("refused starts: %+v", starts)
	}
}

// TestThawedInTime: release_only_by_owner judges only a round where replica 1's thawed run
// ended at least releaseWindow before replica 2's last write; a later thaw (the machine
// stalled) is Inconclusive, never a pass, and a thaw that wrote nothing judges as before. The
// writes are 300 ms apart and 1 ms long (calls).
func TestThawedInTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		lines        []string
		inconclusive bool
	}{
		{"thawed 599 ms before the last write", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-2 6 200", "app-2 6 200"}, false},
		{"thawed 299 ms before the last write", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-2 6 200"}, true},
		{"thawed after the last write", []string{"app-1 5 200", "app-2 6 200", "app-2 6 200", "app-1 5 409"}, true},
		{"the thaw wrote nothing", []string{"app-1 5 200", "app-2 6 200", "app-2 6 200"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := calls(t, tt.lines...)
			err := thawedInTime(ws, started{first: ws[0]}, started{first: ws[1]})
			want := scenarios.VerdictPass
			if tt.inconclusive {
				want = scenarios.VerdictInconclusive
			}
			if got := scenarios.VerdictOf(err); got != want {
				t.Fatalf("thawedInTime: %v (%s); want %s", err, got, want)
			}
			inc, _ := scenarios.AsInconclusive(err)
			if tt.inconclusive && !strings.Contains(inc.Reason, "needs 300ms") {
				t.Fatalf("reason %q; want the window it needs", inc.Reason)
			}
		})
	}
}

// TestExpectRefusedAfterFreeze: the frozen holder's 502 is Inconclusive only when one of its
// writes was in flight across the freeze (its deadline ran while frozen); frozen between writes,
// a 502 fails; a 409 with its token passes; a 200 fails however it was frozen.
func TestExpectRefusedAfterFreeze(t *testing.T) {
	t.Parallel()
	ws := calls(t, "app-1 5 200", "app-1 5 200") // sent at t0 and t0+300ms, each answered in 1 ms
	t0 := ws[0].Start
	ms := time.Millisecond
	mid := [2]time.Time{t0.Add(250 * ms), t0.Add(320 * ms)}     // the second write sent while freezing
	between := [2]time.Time{t0.Add(100 * ms), t0.Add(150 * ms)} // no write in flight
	refused := scenarios.Response{Status: http.StatusConflict, Body: []byte(`{"ran":false,"token":5}`)}
	storeFailed := scenarios.Response{Status: http.StatusBadGateway, Body: []byte(`{"ran":false,"token":5}`)}
	ran := scenarios.Response{Status: http.StatusOK, Body: []byte(`{"ran":true,"token":5}`)}
	for _, c := range []struct {
		name  string
		late  scenarios.Response
		froze [2]time.Time
		want  scenarios.Verdict
	}{
		{"502, a write in flight across the freeze", storeFailed, mid, scenarios.VerdictInconclusive},
		{"502, frozen between writes", storeFailed, between, scenarios.VerdictFail},
		{"409 with its token", refused, mid, scenarios.VerdictPass},
		{"200, a write in flight across the freeze", ran, mid, scenarios.VerdictFail},
	} {
		err := expectRefusedAfterFreeze(c.late, ws, started{first: ws[0]}, c.froze)
		if got := scenarios.VerdictOf(err); got != c.want {
			t.Errorf("%s: %v (%s); want %s", c.name, err, got, c.want)
		}
	}
}

// TestIntrusionOutlivedLease: a run under a newer token that began once replica 2's lease had
// surely run out (2 s after its first write) is the machine stretching replica 2's steps,
// Inconclusive; one that began within the lease fails, whatever Redis showed.
func TestIntrusionOutlivedLease(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		lines        []string
		leased       bool
		inconclusive bool
	}{
		{"began 2.1 s after replica 2's first write", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-2 6 200", "app-2 6 200", "app-2 6 200", "app-2 6 200", "app-2 6 200", "app-1 7 200", "app-2 6 409"}, false, true},
		{"began 1.8 s after", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-2 6 200", "app-2 6 200", "app-2 6 200", "app-2 6 200", "app-1 7 200", "app-2 6 409"}, false, false},
		{"began 0.6 s after, no lease in Redis", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-1 7 200", "app-2 6 409"}, false, false},
		{"began 0.6 s after, a lease in Redis", []string{"app-1 5 200", "app-2 6 200", "app-1 5 409", "app-1 7 200", "app-2 6 409"}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := calls(t, tt.lines...)
			err := intrusion(ws, started{first: ws[0]}, started{first: ws[1]}, ws[len(ws)-1], tt.leased)
			want := scenarios.VerdictFail
			if tt.inconclusive {
				want = scenarios.VerdictInconclusive
			}
			if got := scenarios.VerdictOf(err); got != want {
				t.Fatalf("intrusion: %v (%s); want %s", err, got, want)
			}
		})
	}
}

// TestRanToTheEnd: only a holder whose trigger already answered 200 ran its whole run (and
// released); one still running, refused or cut off did not.
func TestRanToTheEnd(t *testing.T) {
	t.Parallel()
	answered := func(r scenarios.Response) started {
		p := &pending{done: make(chan struct{}), resp: r}
		close(p.done)
		return started{pending: p}
	}
	running := started{pending: &pending{done: make(chan struct{})}}
	for _, tt := range []struct {
		name   string
		holder started
		want   bool
	}{
		{"answered 200", answered(scenarios.Response{Status: http.StatusOK}), true},
		{"still running", running, false},
		{"answered 409", answered(scenarios.Response{Status: http.StatusConflict}), false},
		{"no answer (killed)", answered(scenarios.Response{Err: io.ErrUnexpectedEOF}), false},
	} {
		if _, got := ranToTheEnd(tt.holder); got != tt.want {
			t.Errorf("%s: ranToTheEnd = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestUntested(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 0)
	holder := started{pending: &pending{replica: 1, sent: at}}
	for _, tt := range []struct {
		name string
		sent time.Duration // the taker's trigger, after the holder's
		busy int
		want bool
	}{
		{"first trigger within the lease", 300 * time.Millisecond, 0, false},
		{"first trigger after the lease", Lease + 100*time.Millisecond, 0, true},
		{"first trigger as the lease ends", Lease, 0, true},
		{"409s before, then after the lease", Lease + 100*time.Millisecond, 3, false},
	} {
		taker := started{pending: &pending{replica: 2, sent: at.Add(tt.sent)}, busy: tt.busy}
		if got := scenarios.VerdictOf(untested(holder, taker)) == scenarios.VerdictInconclusive; got != tt.want {
			t.Errorf("%s: untested is Inconclusive: %v; want %v", tt.name, got, tt.want)
		}
	}
}
