package bench_test

import (
	"context"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios/circuitbreaker"
	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
	"github.com/holdfast-ci/holdfast/scenarios/ratelimiter"
)

var (
	pushesPerLevel = flag.Int("m", 12, "throughput benchmark: pushes graded at each concurrency level (the mix, round robin)")
	levelsFlag     = flag.String("levels", "1,2,3,4", "throughput benchmark: the RUNNER_CONCURRENCY levels, comma-separated")
)

// mixed is one submission of the throughput mix: scenarios/<Pkg>/testdata/<Dir>, graded as
// challenge Slug. Its expected verdict is its row of the package's kill matrix (killmatrix_test.go),
// read from there, so the two cannot drift apart.
type mixed struct {
	Pkg, Slug, Dir string
}

// mix: the references and a broken variant of three challenges, all Go, each graded in seconds;
// the variants fail several scenarios, by design, not by a race.
var mix = []mixed{
	{"idempotentpayments", idempotentpayments.Slug, "reference"},
	{"ratelimiter", ratelimiter.Slug, "reference"},
	{"circuitbreaker", circuitbreaker.Slug, "reference"},
	{"idempotentpayments", idempotentpayments.Slug, "broken-no-provider-key"},
	{"ratelimiter", ratelimiter.Slug, "broken-memory-counter"},
	{"circuitbreaker", circuitbreaker.Slug, "broken-no-breaker"},
}

func (m mixed) dir() string { return filepath.Join("../../../../scenarios", m.Pkg, "testdata", m.Dir) }

func (m mixed) String() string { return m.Slug + "/" + m.Dir }

// expected is a kill matrix row's Fails and GVisorFails.
type expected struct{ fails, gvisorFails []string }

// want is what the submission must fail under runtime (the engine's: runsc is gVisor).
func (e expected) want(runtime string) []string {
	if runtime == "runsc" && e.gvisorFails != nil {
		return e.gvisorFails
	}
	return e.fails
}

// killMatrixRow reads m's row from scenarios/<Pkg>/killmatrix_test.go: the scenariotest.Row
// literal whose Dir is m.Dir.
func killMatrixRow(m mixed) (expected, error) {
	path := filepath.Join("../../../../scenarios", m.Pkg, "killmatrix_test.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return expected{}, err
	}
	strs := func(e ast.Expr) []string {
		lit, ok := e.(*ast.CompositeLit)
		if !ok {
			return nil
		}
		out := []string{}
		for _, el := range lit.Elts {
			if b, ok := el.(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(b.Value)
				out = append(out, s)
			}
		}
		return out
	}
	var row *expected
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || row != nil {
			return row == nil
		}
		var r expected
		dir := ""
		for _, el := range lit.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			switch key, _ := kv.Key.(*ast.Ident); {
			case key == nil:
			case key.Name == "Dir":
				if b, ok := kv.Value.(*ast.BasicLit); ok {
					dir, _ = strconv.Unquote(b.Value)
				}
			case key.Name == "Fails":
				r.fails = strs(kv.Value)
			case key.Name == "GVisorFails":
				r.gvisorFails = strs(kv.Value)
			}
		}
		if dir == m.Dir {
			row = &r
		}
		return true
	})
	if row == nil {
		return expected{}, fmt.Errorf("%s has no kill matrix row with Dir %q", path, m.Dir)
	}
	return *row, nil
}

// TestMixIsInTheKillMatrices: every submission of the throughput mix is a row of its challenge's
// kill matrix, which gives its expected verdict. No Docker; runs in every suite run.
func TestMixIsInTheKillMatrices(t *testing.T) {
	for _, m := range mix {
		e, err := killMatrixRow(m)
		if err != nil {
			t.Fatal(err)
		}
		if broken := strings.HasPrefix(m.Dir, "broken-"); broken != (len(e.fails) > 0) {
			t.Errorf("%s: kill matrix row fails %v; a reference fails nothing, a broken variant something", m, e.fails)
		}
	}
}

// level is one concurrency level's run.
type level struct {
	graders      int
	wall         time.Duration
	latency      []time.Duration // push → completed check run, each push
	hits, misses int
	matched      int
	mismatches   []string
	load         [2]string // load average before and after
}

func (l level) perMinute() float64 { return float64(len(l.latency)) / l.wall.Minutes() }

// TestThroughputBench grades M pushes of the mix at each RUNNER_CONCURRENCY level and prints
// gradings per minute, the knee, and whether every verdict was the kill matrix's.
func TestThroughputBench(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: run `bash grading/app/jobs/bench/run.sh throughput [-m 12] [-levels 1,2,3,4]`")
	}
	begin := time.Now()
	var levels []int
	for _, f := range strings.Split(*levelsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("-levels %q: want whole numbers from 1, comma-separated", *levelsFlag)
		}
		levels = append(levels, n)
	}
	m := *pushesPerLevel
	eng := dockertest.Engine(t)
	wants := map[string]expected{}
	for _, mx := range mix {
		e, err := killMatrixRow(mx)
		if err != nil {
			t.Fatal(err)
		}
		wants[mx.String()] = e
	}

	// Every image is built before the clock runs: a warm image cache, as for a branch's next push.
	fmt.Printf("\nImages of the mix (built before any level; a rebuild of the same content is cached):\n\n")
	for _, mx := range mix {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		t0 := time.Now()
		b, err := eng.Build(ctx, mx.dir())
		cancel()
		if err != nil || b.Failed() {
			t.Fatalf("build %s: %v %s\n%s", mx, err, b.Failure, b.LogTail)
		}
		fmt.Printf("- %s: %.1f s%s\n", mx, time.Since(t0).Seconds(), map[bool]string{true: " (cached)"}[b.Cached])
	}

	var rs []level
	for _, c := range levels {
		t.Run(fmt.Sprintf("concurrency-%d", c), func(t *testing.T) {
			rs = append(rs, gradeLevel(t, eng, c, m, wants))
		})
	}

	fmt.Printf("\n%d pushes per level (the mix of %d round robin, each a new commit on its own branch, all posted at once); "+
		"the App, RUNNER_CONCURRENCY graders, 2 publishers, a warm pool of %d, images cached; runtime %s.\n\n",
		m, len(mix), *poolFlag, eng.Runtime())
	fmt.Println("| RUNNER_CONCURRENCY | gradings/min | wall | push → completed p50 | p90 | max | pool hits · misses | verdicts as the kill matrix says | load average before → after |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		p50, p90, mx := stats(r.latency)
		fmt.Printf("| %d | %.1f | %s | %s | %s | %s | %d · %d | %d of %d | %s → %s |\n", r.graders, r.perMinute(), secs(r.wall),
			secs(p50), secs(p90), secs(mx), r.hits, r.misses, r.matched, len(r.latency), r.load[0], r.load[1])
	}
	fmt.Printf("\n%s\n", knee(rs))
	for _, r := range rs {
		for _, s := range r.mismatches {
			fmt.Printf("- concurrency %d: %s\n", r.graders, s)
		}
	}
	fmt.Printf("\nbenchmark wall time: %.1f s\n", time.Since(begin).Seconds())
}

// knee says which level is the knee: the last whose next adds less than 10 % gradings a minute
// (or takes some away), or that none was reached.
func knee(rs []level) string {
	for i := 0; i+1 < len(rs); i++ {
		if rs[i+1].perMinute() < 1.1*rs[i].perMinute() {
			return fmt.Sprintf("Knee: RUNNER_CONCURRENCY %d (%.1f gradings/min); %d adds %+.0f %%.", rs[i].graders, rs[i].perMinute(),
				rs[i+1].graders, 100*(rs[i+1].perMinute()/rs[i].perMinute()-1))
		}
	}
	if len(rs) == 0 {
		return "No level ran."
	}
	return fmt.Sprintf("No knee up to RUNNER_CONCURRENCY %d: each level added at least 10 %% gradings a minute.", rs[len(rs)-1].graders)
}

// gradeLevel posts m pushes of the mix at once to a fresh App whose runner grades c at a time,
// waits for every check run to complete, and checks each verdict against the kill matrix.
func gradeLevel(t *testing.T, eng *docker.Engine, c, m int, wants map[string]expected) level {
	a, te := runner(t, eng, c, *poolFlag)
	repos := map[string]int64{}
	for i, mx := range mix {
		if _, ok := repos[mx.Slug]; !ok {
			repos[mx.Slug] = int64(6001 + i)
			a.Assign(t, "tp-"+mx.Slug, repos[mx.Slug], mx.Slug, "alice")
		}
	}
	r := level{graders: c, load: [2]string{loadavg(), ""}}
	before := te.Stats()
	ps := make([]pushed, m)
	subs := make([]mixed, m)
	for i := range m {
		subs[i] = mix[i%len(mix)]
		repo := "tp-" + subs[i].Slug
		ps[i] = postPush(t, a, repo, repos[subs[i].Slug], fmt.Sprintf("push-%d", i), commit(fmt.Sprintf("c%d-%d", c, i)), subs[i].dir())
	}
	start := ps[0].posted
	left := m
	for deadline := start.Add(12 * time.Minute); left > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d check runs not completed after 12 minutes at concurrency %d", left, m, c)
		}
		left = 0
		for i := range ps {
			if ps[i].done.IsZero() && !ps[i].completedOn(a) {
				left++
			}
		}
	}
	r.load[1] = loadavg()
	after := te.Stats()
	r.hits, r.misses = after.Hits-before.Hits, after.Misses-before.Misses
	var last time.Time
	for i, p := range ps {
		if p.done.After(last) {
			last = p.done
		}
		r.latency = append(r.latency, p.done.Sub(p.posted))
		v, err := a.Store.RunVerdict(context.Background(), p.runID)
		if err != nil {
			t.Fatalf("run %d's verdict: %v", p.runID, err)
		}
		var failed []string
		for _, s := range v.Scenarios {
			if s.Outcome != grading.OutcomePassed {
				failed = append(failed, s.Slug)
			}
		}
		want := slices.Clone(wants[subs[i].String()].want(eng.Runtime()))
		slices.Sort(failed)
		slices.Sort(want)
		conclusion := "success"
		if len(want) > 0 {
			conclusion = "failure"
		}
		if !slices.Equal(failed, want) || p.conclusion != conclusion {
			msg := fmt.Sprintf("push %d, %s (run %d): %s %s %d, did not pass %v; the kill matrix says %s, failing %v",
				i, subs[i], p.runID, p.conclusion, v.Status, v.Score, failed, conclusion, want)
			r.mismatches = append(r.mismatches, msg)
			t.Errorf("verdict not the kill matrix's: %s", msg) // a defect to report, never retried
			continue
		}
		r.matched++
	}
	r.wall = last.Sub(start)
	return r
}
