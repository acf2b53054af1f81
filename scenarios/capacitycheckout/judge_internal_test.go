package capacitycheckout

import (
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
	"github.com/holdfast-ci/holdfast/scenarios/load"
)

// TestJudgeClaimOnAStarvedMachine: a knee lower than claimed by no more than the CPU the
// machine withheld is Inconclusive (six gradings on two cores measured the reference's honest
// claim of 70/s at a knee of 28/s); a claim further over, a claim the starved machine cannot
// explain (under the knee, the wrong resource), or the same knee on a machine with a CPU to
// spare, fails. With such a knee, app-cpu saturating first is explained too; any other
// resource is not.
func TestJudgeClaimOnAStarvedMachine(t *testing.T) {
	t.Parallel()
	broke := func(knee float64) *load.Result {
		return &load.Result{Knee: knee, BrokeAt: knee * 1.2, Steps: []load.Step{
			{Report: load.Report{Rate: knee}, Held: true},
			{Report: load.Report{Rate: knee * 1.2}},
		}}
	}
	claim := func(rps float64, resource string) Claim {
		return Claim{SustainedRPS: rps, SaturatesFirst: resource}
	}
	idle := scenarios.Stall{App: 40 * time.Millisecond, Agent: 3 * time.Millisecond, Harness: 2 * time.Millisecond, CPU: 0.95}
	starved := scenarios.Stall{App: 90 * time.Millisecond, Agent: 20 * time.Millisecond, Harness: 12 * time.Millisecond, CPU: 0.25}
	notMeasured := scenarios.Stall{Agent: 3 * time.Millisecond, Harness: 2 * time.Millisecond}
	for _, c := range []struct {
		name     string
		claim    Claim
		res      *load.Result
		stall    scenarios.Stall
		resource string
		want     string
	}{
		{"honest claim, responsive machine", claim(70, ResourcePostgres), broke(65), idle, ResourcePostgres, "pass"},
		{"honest claim, starved machine: knee 28", claim(70, ResourcePostgres), broke(28), starved, ResourcePostgres, "inconclusive"},
		{"the same knee with a CPU to spare", claim(70, ResourcePostgres), broke(28), idle, ResourcePostgres, "fail"},
		{"the same knee, CPU not measured", claim(70, ResourcePostgres), broke(28), notMeasured, ResourcePostgres, "fail"},
		{"claim 10x the knee, starved", claim(280, ResourcePostgres), broke(28), starved, ResourcePostgres, "fail"},
		{"claim under the knee, starved", claim(20, ResourcePostgres), broke(70), starved, ResourcePostgres, "fail"},
		{"knee explained, wrong resource", claim(70, ResourceAppCPU), broke(28), starved, ResourcePostgres, "fail"},
		// CI, two kill matrices and the chaos test beside: an honest postgres-connections claim
		// of 75 measured a knee of 28 where the app's CPU ran out first.
		{"honest claim, starved machine: app-cpu first", claim(75, ResourcePostgres), broke(28), starved, ResourceAppCPU, "inconclusive"},
		{"app-cpu first with a CPU to spare", claim(75, ResourcePostgres), broke(28), idle, ResourceAppCPU, "fail"},
		{"app-cpu first at the claimed knee, starved", claim(70, ResourcePostgres), broke(70), starved, ResourceAppCPU, "fail"},
		{"app-cpu first, claim 10x the knee, starved", claim(280, ResourceAppLimit), broke(28), starved, ResourceAppCPU, "fail"},
		{"the app's 503s first, starved", claim(75, ResourcePostgres), broke(28), starved, ResourceAppLimit, "fail"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judgeClaim(c.claim, c.res, c.stall, c.resource, "evidence")
			if got := scenarios.VerdictOf(err).String(); got != c.want {
				t.Fatalf("%s: %v; want %s", got, err, c.want)
			}
		})
	}
}

// TestJudgeRetries: while the provider fails, charge requests are counted per checkout that
// reached it. An app that retried each charge five times and shed most checkouts stayed under
// 1.5 per checkout sent (final11, broken-retry-no-budget on a loaded machine); per checkout that
// asked it is 5 and fails.
func TestJudgeRetries(t *testing.T) {
	t.Parallel()
	l0 := agent.LedgerSnapshot{Requests: 100, Payments: 90}
	after := func(requests, payments int) agent.LedgerSnapshot {
		return agent.LedgerSnapshot{Requests: l0.Requests + requests, Payments: l0.Payments + payments}
	}
	for _, c := range []struct {
		name string
		l1   agent.LedgerSnapshot
		sent int
		want string
	}{
		{"no retries", after(40, 40), 40, "pass"},
		{"one budgeted retry each, plus the slack", after(65, 40), 40, "pass"},
		{"five tries each, every checkout asked", after(200, 40), 40, "fail"},
		{"five tries each, most checkouts shed", after(50, 10), 40, "fail"},
	} {
		err := judgeRetries(l0, c.l1, c.sent)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}
