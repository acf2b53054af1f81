package debugretrystorm

import (
	"errors"
	"net/http"
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
	} {
		err := judgeHang(c.r, c.reads, c.stall)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}
