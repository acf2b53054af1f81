package debugretrystorm

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// attempts builds the catalog's record of attempts: each lasts took and follows the previous
// after the gap before it.
func attempts(took time.Duration, status int, gaps ...time.Duration) []agent.Call {
	at := time.Unix(1_700_000_000, 0)
	cs := []agent.Call{{Start: at, End: at.Add(took), Status: status}}
	for _, g := range gaps {
		at = cs[len(cs)-1].End.Add(g)
		cs = append(cs, agent.Call{Start: at, End: at.Add(took), Status: status})
	}
	return cs
}

// arrivedLate builds the catalog's record of attempts that each reached it late and lasted
// took, 50 ms apart.
func arrivedLate(took ...time.Duration) []agent.Call {
	at := time.Unix(1_700_000_000, 0)
	var cs []agent.Call
	for _, d := range took {
		cs = append(cs, agent.Call{Start: at, End: at.Add(d)})
		at = at.Add(d + 50*time.Millisecond)
	}
	return cs
}

func answer(status int, took time.Duration) scenarios.Response {
	return scenarios.Response{Status: status, Duration: took}
}

var (
	idle    = scenarios.Stall{App: 2 * time.Millisecond, Agent: 3 * time.Millisecond, Harness: time.Millisecond}
	stalled = scenarios.Stall{App: 430 * time.Millisecond, Agent: 460 * time.Millisecond, Harness: 40 * time.Millisecond}
	blip    = scenarios.Stall{App: 30 * time.Millisecond, Agent: 25 * time.Millisecond, Harness: 5 * time.Millisecond, CPU: 0.9}
	// starved: no pause long, but less than half a CPU all along.
	starved = scenarios.Stall{App: 40 * time.Millisecond, Agent: 30 * time.Millisecond, Harness: 20 * time.Millisecond, CPU: 0.3}
)

// judgeCase is one judgement: the app's answer, the catalog's record of its attempts, the stall
// measured meanwhile, and the verdict wanted (pass, fail or inconclusive).
type judgeCase struct {
	name  string
	r     scenarios.Response
	reads []agent.Call
	stall scenarios.Stall
	want  string
}

// A stall decides only what it can explain: on a responsive machine every check stays as
// strict as its slack, and what no stall can cause (a 4th attempt) fails whatever the stall.
func TestJudgeFailingUnderStall(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []judgeCase{
		{"backoff kept", answer(http.StatusBadGateway, 160*ms), attempts(0, 200, 52*ms, 101*ms), idle, "pass"},
		{"no backoff, responsive", answer(http.StatusBadGateway, 10*ms), attempts(0, 200, 2*ms, 3*ms), idle, "fail"},
		{"no backoff, a small stall", answer(http.StatusBadGateway, 10*ms), attempts(0, 200, 2*ms, 3*ms), blip, "fail"},
		{"half the backoff, responsive", answer(http.StatusBadGateway, 80*ms), attempts(0, 200, 25*ms, 50*ms), idle, "fail"},
		// drs-fail.txt, fix-validate-before-default: attempt 2 late, attempt 3 seemingly early.
		{"gap shortened by a stall", answer(http.StatusBadGateway, 600*ms), attempts(0, 200, 479*ms, 43*ms), stalled, "inconclusive"},
		{"no backoff, a stall", answer(http.StatusBadGateway, 10*ms), attempts(0, 200, 2*ms, 3*ms), stalled, "inconclusive"},
		// fix-coalesce-only: the third attempt's 300 ms ran out before it reached the catalog.
		{"an attempt starved", answer(http.StatusGatewayTimeout, 830*ms), attempts(0, 200, 231*ms), stalled, "inconclusive"},
		{"an attempt short, responsive", answer(http.StatusBadGateway, 60*ms), attempts(0, 200, 52*ms), idle, "fail"},
		{"504 though 3 attempts failed fast, responsive", answer(http.StatusGatewayTimeout, 160*ms), attempts(0, 200, 52*ms, 101*ms), idle, "fail"},
		{"504 after a starved attempt", answer(http.StatusGatewayTimeout, 700*ms), attempts(0, 200, 52*ms, 101*ms), stalled, "inconclusive"},
		{"5 attempts, a stall", answer(http.StatusBadGateway, 10*ms), attempts(0, 200, 0, 0, 0, 0), stalled, "fail"},
	} {
		err := judgeFailing(c.r, c.reads, c.stall, "the catalog answers 503")
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}

func TestJudgeHangUnderStall(t *testing.T) {
	ms := time.Millisecond
	timedOut := scenarios.Response{Err: errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)"), Duration: 5 * time.Second}
	for _, c := range []judgeCase{
		{"300 ms attempts", answer(http.StatusGatewayTimeout, 1060*ms), attempts(302*ms, 0, 51*ms, 101*ms), idle, "pass"},
		// drs-fail.txt, fix-no-invalidation: one attempt given up 578 ms after it began.
		{"an attempt given up late in a stall", answer(http.StatusGatewayTimeout, 1560*ms), attempts(578*ms, 0, 50*ms, 101*ms), stalled, "inconclusive"},
		{"an attempt given up late, responsive", answer(http.StatusGatewayTimeout, 1560*ms), attempts(578*ms, 0, 50*ms, 101*ms), idle, "fail"},
		{"2 s attempts, a stall", timedOut, attempts(2000*ms, 0, 50*ms, 100*ms), stalled, "fail"},
		{"one attempt, a stall", answer(http.StatusGatewayTimeout, 700*ms), attempts(302*ms, 0), stalled, "fail"},
		{"page late in a stall", answer(http.StatusGatewayTimeout, 1700*ms), attempts(450*ms, 0, 50*ms, 100*ms), stalled, "inconclusive"},
		{"page late, a small stall", answer(http.StatusGatewayTimeout, 1700*ms), attempts(450*ms, 0, 50*ms, 100*ms), blip, "fail"},
		{"502 for a hang, a stall", answer(http.StatusBadGateway, 1060*ms), attempts(302*ms, 0, 51*ms, 101*ms), stalled, "fail"},
		// reference-py at load 14: about 0.6 s of the page outside three right attempts.
		{"page late outside the attempts, starved", answer(http.StatusGatewayTimeout, 1700*ms), attempts(300*ms, 0, 55*ms, 102*ms), starved, "inconclusive"},
		{"page late outside the attempts, a CPU to spare", answer(http.StatusGatewayTimeout, 1700*ms), attempts(300*ms, 0, 55*ms, 102*ms), blip, "fail"},
		{"page later than what is outside the attempts, starved", answer(http.StatusGatewayTimeout, 1700*ms), attempts(300*ms, 0, 350*ms, 350*ms), starved, "fail"},
		{"page late, long attempts account for it, starved", answer(http.StatusGatewayTimeout, 1700*ms), attempts(470*ms, 0, 50*ms, 100*ms), starved, "fail"},
		{"no answer after three right attempts, starved", timedOut, attempts(300*ms, 0, 55*ms, 102*ms), starved, "fail"},
		{"page late after 2 attempts, starved", answer(http.StatusGatewayTimeout, 1700*ms), attempts(300*ms, 0, 55*ms), starved, "fail"},
		// CI on eef2756, fix-blind-py-global-lock: the app logged 3 attempts, the catalog saw 2.
		{"third attempt never arrived, late arrivals", answer(http.StatusGatewayTimeout, 1090*ms), arrivedLate(120*ms, 287*ms), blip, "inconclusive"},
		{"third attempt never arrived, a stall", answer(http.StatusGatewayTimeout, 1090*ms), attempts(300*ms, 0, 55*ms), stalled, "inconclusive"},
		{"2 attempts, responsive", answer(http.StatusGatewayTimeout, 1090*ms), attempts(300*ms, 0, 55*ms), idle, "fail"},
		{"2 attempts answered early, a stall", answer(http.StatusGatewayTimeout, 660*ms), attempts(300*ms, 0, 55*ms), stalled, "fail"},
	} {
		err := judgeHang(c.r, c.reads, c.stall)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}

// importReads builds the catalog's reads of an import: n reads of each of the products named.
func importReads(n int, products ...string) []agent.Call {
	var cs []agent.Call
	for _, p := range products {
		for range n {
			cs = append(cs, agent.Call{Method: http.MethodGet, Path: "/catalog/products/" + p})
		}
	}
	return cs
}

// importRounds builds 3 rounds of hits, the first miss answered missed after the hits were
// sent; took gives each hit's answer time, in order, the rest answered in 5 ms.
func importRounds(missed time.Duration, took ...time.Duration) []importRound {
	rounds := make([]importRound, 3)
	for i := range rounds {
		rounds[i].missed = missed
		for j := range 19 {
			d := 5 * time.Millisecond
			if k := i*19 + j; k < len(took) {
				d = took[k]
			}
			rounds[i].hits = append(rounds[i].hits, answer(http.StatusOK, d))
		}
	}
	return rounds
}

// The import's verdict and its hint come from the catalog's record and the hits' timing: a
// hit that waited for the changed product's read is named as such, and only then.
func TestJudgeImport(t *testing.T) {
	others := []string{"p-0", "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-8", "p-9", "p-10", "p-11", "p-12", "p-13", "p-14", "p-15", "p-16", "p-17", "p-18", "p-19"}
	for _, c := range []struct {
		name   string
		reads  []agent.Call
		rounds []importRound
		want   string // "" passes; otherwise a phrase of the hint
	}{
		{"hits from the cache, the changed product's reads at the catalog", importReads(9, "p-7"), importRounds(time.Second), ""},
		{"one stray catalog read of an unchanged product", append(importReads(9, "p-7"), importReads(1, "p-3")...), importRounds(time.Second), ""},
		{"hits waiting behind the misses (a lock across the catalog read)", importReads(9, "p-7"),
			importRounds(980*time.Millisecond, 2100*time.Millisecond, 3150*time.Millisecond, 970*time.Millisecond), "Do not hold the cache's lock"},
		{"a hit slow but answered well before the misses", importReads(9, "p-7"), importRounds(1500*time.Millisecond, 1010*time.Millisecond, 1200*time.Millisecond), "without waiting on a lock"},
		{"a hit with no answer", importReads(9, "p-7"), func() []importRound {
			r := importRounds(time.Second)
			r[1].hits[4] = scenarios.Response{Err: errors.New("deadline exceeded"), Duration: 5 * time.Second}
			return r
		}(), "without waiting on a lock"},
		{"every unchanged product read again once a round (the epoch bug)", append(importReads(9, "p-7"), importReads(3, others...)...), importRounds(time.Second), "find why a price update makes products it did not change miss"},
		{"every unchanged product read three times a round (the storm)", append(importReads(9, "p-7"), importReads(9, others...)...),
			importRounds(time.Second, 1200*time.Millisecond), "INC-2291's retry storm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judgeImport("p-7", 19, c.reads, c.rounds)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want a pass, got %v", err)
				}
				return
			}
			var f *scenarios.Failure
			if !errors.As(err, &f) {
				t.Fatalf("want a failure, got %v", err)
			}
			if !strings.Contains(f.Hint, c.want) {
				t.Errorf("hint %q; want it to say %q", f.Hint, c.want)
			}
		})
	}
}

// TestJudgeCached: one catalog read for two page reads passes; more pass only as the first
// page's retries, each a whole attempt and its backoff after the previous, the page showing the
// last one's answer and the second page the same.
func TestJudgeCached(t *testing.T) {
	ms := time.Millisecond
	reads := func(gaps ...time.Duration) []agent.Call {
		at := time.Unix(1_700_000_000, 0)
		cs := []agent.Call{{Start: at, End: at.Add(5 * ms), Status: http.StatusOK}}
		for _, g := range gaps {
			at = at.Add(g)
			cs = append(cs, agent.Call{Start: at, End: at.Add(5 * ms), Status: http.StatusOK})
		}
		return cs
	}
	p := func(v int64) product { return product{Version: v} }
	for _, c := range []struct {
		name          string
		first, second product
		reads         []agent.Call
		want          string
	}{
		{"one read", p(1), p(1), reads(), "pass"},
		{"a second read for the second page", p(1), p(2), reads(2 * ms), "fail"},
		// final11, reference-ts: the first attempt's answer came late, the retry's was cached.
		{"the first page retried", p(2), p(2), reads(351 * ms), "pass"},
		{"the first page retried twice", p(3), p(3), reads(352*ms, 402*ms), "pass"},
		// final13: the first attempt reached the catalog late, the retry on time.
		{"the first page retried, the first read late", p(2), p(2), reads(230 * ms), "pass"},
		{"two reads at once", p(2), p(2), reads(3 * ms), "fail"},
		{"the first page shows the first read", p(1), p(1), reads(351 * ms), "fail"},
		{"four reads", p(4), p(4), reads(351*ms, 401*ms, 401*ms), "fail"},
	} {
		err := judgeCached(c.first, c.second, c.reads)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}
