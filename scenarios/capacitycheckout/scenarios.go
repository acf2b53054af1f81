package capacitycheckout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
	"github.com/holdfast-ci/holdfast/scenarios/load"
)

// Slug is the challenge's catalog name.
const Slug = "capacity-checkout"

// The numbers the brief holds the app to.
const (
	// ProviderLatency is how long the provider takes to answer each charge during the load
	// scenarios: with the brief's PoolCap, it sets the knee of a design that holds a connection
	// across the charge (8 ÷ 100 ms ≈ 80/s) whatever the machine's speed.
	ProviderLatency = 100 * time.Millisecond
	// PoolCap is the most Postgres connections the app may hold at once.
	PoolCap = 8
	// PoolBusy is the share of its open connections an app keeps busy on average, at the first
	// rate that broke the SLO, for the connections to be what saturated.
	PoolBusy = 0.6
	// SLOP99 and ErrorBudget are the SLO a rate must meet to be held.
	SLOP99      = 800 * time.Millisecond
	ErrorBudget = 0.01
	// LoadSKU is the SKU every load request checks out, at LoadPrice cents.
	LoadSKU   = "sku_load"
	LoadPrice = 999
)

// The knee search, the claim's tolerance and the overload and fault phases.
const (
	searchStart    = 20.0
	warmUp         = time.Second
	searchMax      = 160.0
	stepDuration   = 1500 * time.Millisecond
	requestTimeout = 2 * time.Second
	// ClaimLow and ClaimHigh bound an honest claim: sustained_rps between ClaimLow and ClaimHigh
	// times the measured knee. Measured on the shared 2-core machine, the knee of the reference
	// and of the variants built like it (8 connections held across a 100 ms charge) over 15
	// searches, 2 to 5 gradings at once beside other sessions' tests (load average 7–24):
	// 51–84/s, most 62–76. The reference claims 70: 0.83×–1.37× of every one of them; a
	// claim of 1.5× the quiet machine's knee would not have survived the loaded one.
	ClaimLow  = 0.6
	ClaimHigh = 1.5
	// overloadMax bounds the overload rate (twice the knee the brief's limits allow), and
	// calmMax the steady rate of the recovery and fault phases (half the claim): low enough that
	// the reference holds them on a loaded machine (at 240/s its p99 reached 1.09 s, load 17).
	overloadMin, overloadMax = 60.0, 160.0
	calmMin, calmMax         = 15.0, 40.0
	// defaultClaim stands in for a claim that cannot be read, so that the overload and fault
	// scenarios still judge the service's behaviour.
	defaultClaim = 80.0
	// overloadFor is how long twice the claimed rate is offered; overloadP99 bounds every answer
	// then (a 503 or a checkout).
	overloadFor = 3 * time.Second
	overloadP99 = time.Second
	// window is one recovery window; RecoveryBound is how soon the service must be back under the
	// SLO once the load drops (or the provider recovers).
	window        = 500 * time.Millisecond
	RecoveryBound = 2 * time.Second
	// faultFor is how long the provider fails every charge under steady load; RetryBudget bounds
	// the charge requests per checkout meanwhile.
	faultFor    = 2 * time.Second
	RetryBudget = 1.5
	// stallTolerance is how long the harness or the agent may stand still during a search whose
	// verdict is a failure before the round is Inconclusive instead.
	stallTolerance = 150 * time.Millisecond
	// stalledLow and stalledHigh: a claim this far from the knee fails even when the machine
	// stalled; closer, a stalled search is run again.
	stalledLow, stalledHigh = 0.4, 2.5
)

// Scenarios is the challenge's table.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "claim_is_honest", Title: "The capacity claim matches the measured knee and the resource that saturates first",
			Weight: 3, Visibility: scenarios.Public, Timeout: 60 * time.Second, Run: claimIsHonest},
		{Slug: "overload_at_2x", Title: "At twice the claimed rate the service sheds or bounds its latency and recovers",
			Weight: 2, Visibility: scenarios.Public, Timeout: 40 * time.Second, Run: overloadAt2x},
		{Slug: "provider_fault_under_load", Title: "A failing provider under steady load: no retry storm, no lost order, quick recovery",
			Weight: 2, Visibility: scenarios.Public, Timeout: 40 * time.Second, Run: providerFaultUnderLoad},
	}
}

// claimIsHonest searches the knee and compares it, and the resource that saturated first, with
// the claim.
func claimIsHonest(ctx context.Context, h *scenarios.Harness) error {
	claim, err := readClaim(h)
	if err != nil {
		return err
	}
	if err := prepare(ctx, h); err != nil {
		return err
	}
	sampler, err := samplePostgres(ctx, h)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var starts []time.Time // when each step sent its first request
	cfg := checkoutLoad(h, searchStart, stepDuration)
	req := cfg.Request
	cfg.Build = func(i int) load.Request {
		if i == 0 {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
		}
		return req
	}
	// Warm up: the first requests open connections and fill caches; the search measures the
	// service once it runs.
	if _, err := load.Run(ctx, checkoutLoad(h, searchStart, warmUp)); err != nil {
		sampler.Stop()
		return err
	}
	stopStall := h.WatchStall(ctx)
	res, err := load.Search(ctx, load.SearchConfig{Load: cfg, SLO: load.SLO{P99: SLOP99, ErrorBudget: ErrorBudget},
		Start: searchStart, MaxRate: searchMax})
	stall := stopStall()
	samples, serr := sampler.Stop()
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	table := "\n" + indent(res.Table())
	if res.Knee == 0 {
		if machineStalled(stall, res) {
			return scenarios.Inconclusivef("even %.0f/s broke the SLO, but the machine stalled during the search (%s)", searchStart, stall)
		}
		return scenarios.Failf(fmt.Sprintf("the service to hold %.0f checkouts/s under the SLO (p99 ≤ %s, errors ≤ %.0f%%)", searchStart, SLOP99, 100*ErrorBudget),
			"POST /checkout must answer 201 for a known SKU; look at the errors column.",
			"even the first rate broke it:%s", table)
	}
	resource, evidence := "", ""
	if res.BrokeAt > 0 {
		k := firstBroken(res)
		if k >= len(starts) {
			return fmt.Errorf("the search ran %d steps but %d started", len(res.Steps), len(starts))
		}
		resource, evidence = saturated(res.Steps[k], samples, starts[k])
	}
	return judgeClaim(claim, res, stall, resource, evidence)
}

// judgeClaim holds the claim to the search's result and, when the SLO broke, the resource that
// saturated first (with its evidence). problems are what is wrong with the claim; a machine short
// of CPU (Stall.Slowed) explains two of them, and a round whose every problem it explains is
// Inconclusive: a knee lower than claimed by no more than the CPU the machine withheld (six
// gradings on two cores measured the reference's knee at 28/s against its honest 70), and, with
// that knee, app-cpu saturating first where the claim names another resource (starved, the app's
// CPU runs out before the connections or the app's own limit are reached: CI measured exactly
// that for an honest postgres-connections claim, knee 28 against 75). A starved machine cannot
// make the knee higher, nor make the connections or the app's 503s the limit: a claim that names
// app-cpu where another resource saturated first fails.
func judgeClaim(claim Claim, res *load.Result, stall scenarios.Stall, resource, evidence string) error {
	table := "\n" + indent(res.Table())
	var problems []string
	explained := true // by a machine short of CPU: every problem so far
	ratio := claim.SustainedRPS / res.Knee
	starved := res.BrokeAt > 0 && ratio > 1 && stall.Slowed(ratio/ClaimHigh)
	switch {
	case res.BrokeAt == 0 && ratio < ClaimLow:
		problems = append(problems, fmt.Sprintf("sustained_rps %.0f is under %.1f× the measured knee: the service held every rate up to %.0f/s", claim.SustainedRPS, ClaimLow, res.Knee))
		explained = false
	case res.BrokeAt > 0 && (ratio < ClaimLow || ratio > ClaimHigh):
		problems = append(problems, fmt.Sprintf("sustained_rps %.0f is %.2f× the measured knee of %.0f/s (honest: %.1f×–%.1f×, %.0f–%.0f/s)",
			claim.SustainedRPS, ratio, res.Knee, ClaimLow, ClaimHigh, ClaimLow*res.Knee, ClaimHigh*res.Knee))
		explained = explained && starved
	}
	if res.BrokeAt > 0 && resource != claim.SaturatesFirst {
		problems = append(problems, fmt.Sprintf("saturates_first is %s, but %s saturated first: %s", claim.SaturatesFirst, resource, evidence))
		explained = explained && starved && resource == ResourceAppCPU
	}
	if len(problems) == 0 {
		return nil
	}
	if explained {
		return scenarios.Inconclusivef("the claim looked wrong (%s), but the machine was short of CPU during the search (%s)", strings.Join(problems, "; "), stall)
	}
	if machineStalled(stall, res) && ratio >= stalledLow && ratio <= stalledHigh {
		return scenarios.Inconclusivef("the claim looked wrong (%s), but the machine stalled during the search (%s) or the driver sent late", strings.Join(problems, "; "), stall)
	}
	return scenarios.Failf("the claim in "+ClaimFile+" to match what Holdfast measured",
		"Write in "+ClaimFile+" what this measured (the knee, and the resource named here), or change the design until the claim holds. The knee is where p99 or errors break the SLO; give your service a limit you control (a pool, an in-flight cap) so that it does not move with the machine.",
		"%s%s\n%s", strings.Join(problems, "; "), table, machine(stall))
}

// machine says, for a learner reading a failed claim, how much CPU the machine had to give
// during the search, so that a knee lower than expected can be read against it.
func machine(stall scenarios.Stall) string {
	if stall.CPU <= 0 {
		return "The machine's spare CPU during the search was not measured."
	}
	return fmt.Sprintf("During the search a task asking the machine for a whole CPU got %.0f%% of one.", 100*stall.CPU)
}

// firstBroken is the index of the step that counts for the lowest rate that broke the SLO.
func firstBroken(res *load.Result) int {
	for k, s := range res.Steps {
		if !s.Held && !s.Rerun && s.Rate == res.BrokeAt {
			return k
		}
	}
	return len(res.Steps)
}

// machineStalled reports whether the search measured the machine as much as the service: the
// grader's side (harness, agent; the app is slow on purpose here) stood still for longer than
// stallTolerance, or the step that decided the knee was sent late by the driver itself.
func machineStalled(stall scenarios.Stall, res *load.Result) bool {
	k := firstBroken(res)
	return stall.Grader() > stallTolerance || (k < len(res.Steps) && res.Steps[k].DriverLate)
}

// saturated says which resource saturated first at a step, from the samples of pg_stat_activity
// taken while it ran and its own answers (Resources' comments say how), with the evidence.
func saturated(step load.Step, samples []sample, start time.Time) (resource, evidence string) {
	end := start.Add(stepDuration)
	looks, most, used := 0, 0, 0.0
	for _, s := range samples {
		if s.at.Before(start) || s.at.After(end) || s.open == 0 {
			continue
		}
		looks++
		most = max(most, s.open)
		used += float64(min(s.busy, s.open)) / float64(s.open)
	}
	if looks > 0 {
		used /= float64(looks)
	}
	shed := step.Statuses[http.StatusServiceUnavailable]
	at := fmt.Sprintf("at %.0f/s, the first rate that broke the SLO, ", step.Rate)
	pg := fmt.Sprintf("the app's Postgres connections were %.0f%% busy on average over %d looks at pg_stat_activity, at most %d open", 100*used, looks, most)
	switch {
	case looks > 0 && used >= PoolBusy && most <= PoolCap:
		return ResourcePostgres, at + pg
	case shed > 0 && 2*shed >= step.Errors.Total():
		return ResourceAppLimit, at + fmt.Sprintf("%d of its %d failures were 503s (and %s)", shed, step.Errors.Total(), pg)
	}
	return ResourceAppCPU, at + fmt.Sprintf("neither the connections (%s) nor 503s (%d of %d failures) were the limit", pg, shed, step.Errors.Total())
}

// claimedRate is the claim's sustained rate, or defaultClaim when the claim cannot be read (the
// claim's own scenario says why): the behaviour scenarios judge the service either way.
func claimedRate(h *scenarios.Harness) (float64, error) {
	c, err := readClaim(h)
	if _, ok := scenarios.AsFailure(err); ok {
		return defaultClaim, nil
	}
	if err != nil {
		return 0, err
	}
	return c.SustainedRPS, nil
}

// overloadAt2x offers twice the claimed rate for a few seconds, then half of it, and judges the
// answers, the connections and the recovery; then the claim's at_2x and recovery_seconds.
func overloadAt2x(ctx context.Context, h *scenarios.Harness) error {
	claimed, err := claimedRate(h)
	if err != nil {
		return err
	}
	rate := min(max(2*claimed, overloadMin), overloadMax)
	low := min(max(claimed/2, calmMin), calmMax)
	if err := prepare(ctx, h); err != nil {
		return err
	}
	sampler, err := samplePostgres(ctx, h)
	if err != nil {
		return err
	}
	stopStall := h.WatchStall(ctx)
	over, err := load.Run(ctx, checkoutLoad(h, rate, overloadFor))
	if err != nil {
		sampler.Stop()
		return err
	}
	after, err := windows(ctx, checkoutLoad(h, low, window), int(4*time.Second/window), window)
	stall := stopStall()
	samples, serr := sampler.Stop()
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if r := h.Do(ctx, scenarios.Request{Path: "/healthz", Timeout: 2 * time.Second}); r.Status != http.StatusOK {
		return scenarios.Failf("the service to survive twice its claimed rate",
			"Bound what the service takes on under load (connections, goroutines, memory) so that overload costs answers, not the process.",
			"after %.0f checkouts/s for %s, GET /healthz got %s", rate, overloadFor, r.DescribeTook())
	}
	if m := maxOpen(samples); m > PoolCap {
		return scenarios.Failf(fmt.Sprintf("at most %d Postgres connections at any time", PoolCap),
			fmt.Sprintf("Cap your pool at %d connections (pgxpool MaxConns, database/sql SetMaxOpenConns, node-postgres max, in Python a queue.Queue holding that many psycopg2 connections); with no cap, overload turns into connection exhaustion on the database.", PoolCap),
			"pg_stat_activity showed %d connections of the app at %.0f checkouts/s", m, rate)
	}
	answered := over.Sent - over.Errors.Timeout - over.Errors.Connection - over.Errors.Invalid
	bad := over.Sent - over.Statuses[http.StatusServiceUnavailable] - over.OK
	if over.OK == 0 && answered > 0 {
		return scenarios.Failf("at twice the claimed rate, some checkouts answered 201 and the rest a fast 503",
			"POST /checkout must work before its capacity can be measured: answer 201 with the order (the brief's API section).",
			"at %.0f checkouts/s for %s, not one checkout succeeded; answers: %s", rate, overloadFor, statusesOf(over))
	}
	if !stall.Explains(over.Latency.P99, overloadP99) || float64(bad) > ErrorBudget*float64(over.Sent) || answered == 0 {
		return scenarios.Failf(fmt.Sprintf("at twice the claimed rate, every request answered within %s: a checkout or a fast 503", overloadP99),
			"Do not queue without a bound: wait a short, fixed time for a connection (or an in-flight slot), then answer 503 with Retry-After. A queue that grows with the overload keeps every later request waiting.",
			"at %.0f checkouts/s for %s: p99 %s; answers: %s", rate, overloadFor, over.Latency.P99.Round(time.Millisecond), statusesOf(over))
	}
	took, ok, worst := recovery(after, window, stall.Max())
	if (!ok || took > RecoveryBound) && shedOnStarvedMachine(after, stall) {
		return scenarios.Inconclusivef("still broken %s (the worst: %s), but only by 503s the app shed while the machine was short of CPU (%s)", tookString(took, ok), worst, stall)
	}
	if !ok || took > RecoveryBound {
		return scenarios.Failf(fmt.Sprintf("back under the SLO (p99 ≤ %s, errors ≤ %.0f%%) within %s of the load dropping to %.0f/s", SLOP99, 100*ErrorBudget, RecoveryBound, low),
			"A backlog built during the overload is still being served: bound the queue so that what the service cannot do is refused at once.",
			"still broken %s; the worst: %s", tookString(took, ok), worst)
	}
	claim, err := readClaim(h)
	if err != nil {
		return nil // the claim's own scenario says what is wrong with it
	}
	shedShare := float64(over.Statuses[http.StatusServiceUnavailable]) / float64(max(over.Sent, 1))
	measured := At2xQueue
	if shedShare >= 0.05 {
		measured = At2xShed
	}
	if claim.At2x != measured {
		return scenarios.Failf("at_2x in "+ClaimFile+" to say what the service did at twice its claimed rate",
			"Write at_2x: "+measured+" (shed when 5 % or more of the answers are 503s), or change the design.",
			"at_2x is %s, but %.0f%% of the answers at %.0f/s were 503s (%s): that is %s", claim.At2x, 100*shedShare, rate, statusesOf(over), measured)
	}
	if took > time.Duration(claim.RecoverySeconds*float64(time.Second))+window {
		return scenarios.Failf("recovery_seconds in "+ClaimFile+" to be at least the measured recovery",
			fmt.Sprintf("Write recovery_seconds: %.1f or more.", took.Seconds()),
			"recovery_seconds is %v, but the service was back under the SLO %s after the load dropped", claim.RecoverySeconds, took)
	}
	return nil
}

// judgeRetries holds the charge requests the app sent while the provider failed to RetryBudget
// per checkout that reached the provider (a payment_id, the order id), plus 5 for those in
// flight when the fault began and ended. Not per checkout sent: a checkout the app shed never
// asks, so under load an app that retried every charge five times and shed the rest once
// stayed under 1.5 per checkout sent (final11, broken-retry-no-budget).
func judgeRetries(l0, l1 agent.LedgerSnapshot, sent int) error {
	asked := l1.Requests - l0.Requests
	reached := l1.Payments - l0.Payments
	if float64(asked) <= RetryBudget*float64(reached)+5 {
		return nil
	}
	return scenarios.Failf(fmt.Sprintf("at most %.1f charge requests per checkout while the provider fails", RetryBudget),
		"Retry a failed charge at most once, within a budget (e.g. retries at most 10% of calls), with backoff; or answer 502 and let the caller retry. Unbudgeted retries multiply the load on a provider that is already failing.",
		"%d of %d checkouts sent in %s of provider failures reached the provider, with %d charge requests (%.1f each)",
		reached, sent, faultFor, asked, float64(asked)/float64(max(reached, 1)))
}

func tookString(took time.Duration, ok bool) string {
	if !ok {
		return "at the end of the last window"
	}
	return fmt.Sprintf("until %s after the load dropped", took)
}

// providerFaultUnderLoad makes the provider fail every charge for a while under steady load, and
// counts the charge requests the app sent meanwhile, the orders acknowledged but not paid, and
// how soon it is back under the SLO.
func providerFaultUnderLoad(ctx context.Context, h *scenarios.Harness) error {
	claimed, err := claimedRate(h)
	if err != nil {
		return err
	}
	rate := min(max(claimed/2, calmMin), calmMax)
	if err := prepare(ctx, h); err != nil {
		return err
	}
	paidBefore, err := paidOrders(ctx, h)
	if err != nil {
		return err
	}
	before, err := load.Run(ctx, checkoutLoad(h, rate, time.Second))
	if err != nil {
		return err
	}
	l0, err := h.Agent.Ledger(ctx)
	if err != nil {
		return err
	}
	stopStall := h.WatchStall(ctx)
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{Mode: agent.ModeFail, Count: 1_000_000, LatencyMS: ProviderLatency.Milliseconds()}); err != nil {
		return err
	}
	during, err := load.Run(ctx, checkoutLoad(h, rate, faultFor))
	if err != nil {
		return err
	}
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{LatencyMS: ProviderLatency.Milliseconds()}); err != nil {
		return err
	}
	l1, err := h.Agent.Ledger(ctx)
	if err != nil {
		return err
	}
	after, err := windows(ctx, checkoutLoad(h, rate, window), int(3*time.Second/window), window)
	stall := stopStall()
	if err != nil {
		return err
	}
	paidAfter, err := paidOrders(ctx, h)
	if err != nil {
		return err
	}
	if err := judgeRetries(l0, l1, during.Sent); err != nil {
		return err
	}
	acked := before.Statuses[http.StatusCreated] + during.Statuses[http.StatusCreated]
	for _, r := range after {
		acked += r.Statuses[http.StatusCreated]
	}
	if lost := acked - (paidAfter - paidBefore); lost > 0 {
		return scenarios.Failf("every checkout answered 201 to be a paid row in orders",
			"Answer 201 only after the order is committed as paid; a failed charge is a 502, never a 201.",
			"%d checkouts were answered 201, but only %d orders became paid: %d acknowledged orders are missing", acked, paidAfter-paidBefore, lost)
	}
	took, ok, worst := recovery(after, window, stall.Max())
	if (!ok || took > RecoveryBound) && shedOnStarvedMachine(after, stall) {
		return scenarios.Inconclusivef("still broken %s (the worst: %s), but only by 503s the app shed while the machine was short of CPU (%s)", tookString(took, ok), worst, stall)
	}
	if !ok || took > RecoveryBound {
		return scenarios.Failf(fmt.Sprintf("back under the SLO within %s of the provider recovering", RecoveryBound),
			"Failed charges must not leave work behind (held connections, a backlog of retries) once the provider answers again.",
			"still broken %s; the worst: %s", tookString(took, ok), worst)
	}
	return nil
}

// shedOnStarvedMachine says whether every recovery window that broke the SLO (after the overload
// of overload_at_2x, after the fault of provider_fault_under_load) broke it only by
// 503s (its p99 held, allowing the stall), on a machine that gave less than half a CPU
// (Stall.Slowed): a service that sheds what waited too long sheds more when the machine gives
// it too little CPU. CI once failed reference-blind so (its mailbox sheds what waited 350 ms):
// 2 of 18 checkouts in the last window, beside two other kill matrices and the chaos test. A
// service left with a backlog, held connections or retries after the fault still fails: its
// windows break by latency, timeouts or other statuses.
func shedOnStarvedMachine(after []*load.Report, stall scenarios.Stall) bool {
	if !stall.Slowed(1) {
		return false
	}
	for _, r := range after {
		if broken, _ := breaks(r, stall.Max()); !broken {
			continue
		}
		if r.Latency.P99 > SLOP99+stall.Max() || r.Errors.Total() != r.Statuses[http.StatusServiceUnavailable] {
			return false
		}
	}
	return true
}

// paidOrders counts the paid rows of the brief's orders table on the Postgres sidecar.
func paidOrders(ctx context.Context, h *scenarios.Harness) (int, error) {
	conn, err := h.Postgres(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'paid'`).Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "42703") {
		return 0, scenarios.Failf("a table orders with a status column ('paid' once charged), as the brief says",
			"Create the orders table of the brief at start-up.", "Postgres said: %s", pgErr.Message)
	}
	if err != nil {
		return 0, fmt.Errorf("count paid orders: %w", err)
	}
	return n, nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
