package bench_test

// Where the time of one delivery goes: sqlTrace is a pgx tracer that times every statement
// (from the client's send to the end of its answer: the network, Postgres' queue and its work),
// every batch and every wait for a pool connection; cpuTicks reads what Postgres' processes and
// this one spent on the CPU. TestIntakeProfile prints both; TestIntakeBench and
// TestIntakeCommitters print the CPU.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// sqlTrace implements pgx.QueryTracer, pgx.BatchTracer and pgxpool.AcquireTracer.
type sqlTrace struct {
	mu    sync.Mutex
	stats map[string]*traceStat
}

type traceStat struct {
	n     int
	total time.Duration
	all   []time.Duration
}

type traceStart struct {
	label string
	at    time.Time
}

type traceKey struct{}

func newSQLTrace() *sqlTrace { return &sqlTrace{stats: map[string]*traceStat{}} }

func (s *sqlTrace) add(label string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[label]
	if st == nil {
		st = &traceStat{}
		s.stats[label] = st
	}
	st.n++
	st.total += d
	st.all = append(st.all, d)
}

func (s *sqlTrace) start(ctx context.Context, label string) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{label, time.Now()})
}

func (s *sqlTrace) end(ctx context.Context) {
	if v, ok := ctx.Value(traceKey{}).(traceStart); ok {
		s.add(v.label, time.Since(v.at))
	}
}

// statement names a statement by its first words, its whitespace folded.
func statement(sql string) string {
	f := strings.Join(strings.Fields(sql), " ")
	if len(f) > 70 {
		f = f[:70] + "…"
	}
	return f
}

func (s *sqlTrace) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return s.start(ctx, statement(d.SQL))
}
func (s *sqlTrace) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	s.end(ctx)
}
func (s *sqlTrace) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	return s.start(ctx, fmt.Sprintf("batch of %d pipelined statements", len(d.Batch.QueuedQueries)))
}
func (s *sqlTrace) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *sqlTrace) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	s.end(ctx)
}
func (s *sqlTrace) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return s.start(ctx, "(wait for a pool connection)")
}
func (s *sqlTrace) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	s.end(ctx)
}

// reset forgets what was traced so far (the warm-up).
func (s *sqlTrace) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = map[string]*traceStat{}
}

// table returns the traced statements, most total time first, per delivery of n.
func (s *sqlTrace) table(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	labels := make([]string, 0, len(s.stats))
	for l := range s.stats {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b string) int { return int(s.stats[b].total - s.stats[a].total) })
	var b strings.Builder
	fmt.Fprintf(&b, "| statement (client-side: send → answer) | count | per delivery | mean | p50 | p99 |\n|---|---|---|---|---|---|\n")
	var sum time.Duration
	for _, l := range labels {
		st := s.stats[l]
		slices.Sort(st.all)
		sum += st.total
		fmt.Fprintf(&b, "| `%s` | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", strings.ReplaceAll(l, "|", "\\|"), st.n,
			msf(st.total/time.Duration(n)), msf(st.total/time.Duration(st.n)), msf(pct(st.all, 50)), msf(pct(st.all, 99)))
	}
	fmt.Fprintf(&b, "| all of the above | | %.2f ms | | | |\n", msf(sum/time.Duration(n)))
	return b.String()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTicks returns the CPU time (user + system) spent so far by the processes named postgres
// and by this process. Any other database on the same Postgres counts too.
func cpuTicks() (postgres, self time.Duration) {
	read := func(path string) (string, time.Duration) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", 0
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			return "", 0
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 13 {
			return "", 0
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		return s[open+1 : close], time.Duration(u+k) * 10 * time.Millisecond // USER_HZ is 100
	}
	_, self = read("/proc/self/stat")
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		if name, t := read(d); name == "postgres" {
			postgres += t
		}
	}
	return postgres, self
}

// TestIntakeProfile (HOLDFAST_BENCH=1) sends 1000 pushes, 64 in flight, to the App with no
// publishers and with healthy ones, every statement traced, and prints where a delivery's time
// goes: each statement, the waits for a pool connection, and the CPU Postgres and the App spent.
//
//	HOLDFAST_BENCH=1 go test -run TestIntakeProfile -v ./grading/app/jobs/bench/
func TestIntakeProfile(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: HOLDFAST_BENCH=1 go test -run TestIntakeProfile -v ./grading/app/jobs/bench/")
	}
	for _, c := range conditions()[:2] {
		for _, perDelivery := range []bool{true, false} {
			trace := newSQLTrace()
			var r intakeRow
			t.Run(fmt.Sprintf("%s, per delivery %v", c.short, perDelivery), func(t *testing.T) { // its cleanups close the pool now
				r = runIntake(t, c, intakePushes, intakeSetup{perDelivery: perDelivery, trace: trace})
			})
			if t.Failed() {
				t.FailNow()
			}
			path := "group commit"
			if perDelivery {
				path = "per delivery (before)"
			}
			fmt.Printf("\n### %s: %d pushes, %d in flight, GitHub %s: p50 %s p90 %s p99 %s max %s, wall %.2f s (%.0f deliveries/s)\n",
				path, r.n, intakeInFlight, c.name, ms(pct(r.lat, 50)), ms(pct(r.lat, 90)), ms(pct(r.lat, 99)), ms(r.lat[len(r.lat)-1]),
				r.wall.Seconds(), float64(r.n)/r.wall.Seconds())
			fmt.Printf("Inside the App's handler (read, verify, decode, store, answer): p50 %s p90 %s p99 %s max %s; the rest of each answer's time is the client, loopback and waiting for a CPU\n",
				ms(pct(r.server, 50)), ms(pct(r.server, 90)), ms(pct(r.server, 99)), ms(r.server[len(r.server)-1]))
			fmt.Printf("CPU during the burst: Postgres %.2f s (%.2f ms per delivery), this process (App and load generator) %.2f s (%.2f ms per delivery); wall %.2f s on %d CPUs\n\n",
				r.cpu[0].Seconds(), msf(r.cpu[0]/time.Duration(r.n)), r.cpu[1].Seconds(), msf(r.cpu[1]/time.Duration(r.n)), r.wall.Seconds(), runtime.NumCPU())
			fmt.Print(trace.table(r.n))
		}
	}
}

// TestIntakeCommitters (HOLDFAST_BENCH=1) sizes store.Intake: 1000 pushes, 64 in flight, GitHub
// healthy, with 1, 2, 4, 8 and 16 committers (transactions at once), the sizes alternating over
// the rounds (HOLDFAST_BENCH_ROUNDS, default 2).
//
//	HOLDFAST_BENCH=1 go test -run TestIntakeCommitters -v ./grading/app/jobs/bench/
func TestIntakeCommitters(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: HOLDFAST_BENCH=1 go test -run TestIntakeCommitters -v ./grading/app/jobs/bench/")
	}
	rounds := benchRounds(2)
	sizes := []int{1, 2, 4, 8, 16}
	rows := make([][]intakeRow, len(sizes))
	c := conditions()[1] // healthy: the publishers work beside the intake
	for round := range rounds {
		for k := range sizes {
			i := (k + round) % len(sizes)
			t.Run(fmt.Sprintf("round %d: %d committers", round+1, sizes[i]), func(t *testing.T) { // its cleanups close the pool now
				rows[i] = append(rows[i], runIntake(t, c, intakePushes, intakeSetup{intake: &store.IntakeOpts{Committers: sizes[i]}}))
			})
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	fmt.Printf("\n%d pushes, %d in flight, GitHub %s, %d rounds, latencies over all rounds\n\n", intakePushes, intakeInFlight, c.name, rounds)
	fmt.Println("| committers | p50 | p90 | p99 | max | p99 per round | in the handler: p50 · p99 | CPU per delivery: Postgres · App |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for i, rs := range rows {
		m := mergeRounds(rs)
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s · %s | %.2f · %.2f ms |\n", sizes[i], ms(pct(m.lat, 50)), ms(pct(m.lat, 90)), ms(pct(m.lat, 99)),
			ms(m.lat[len(m.lat)-1]), each(m.p99s, ms), ms(pct(m.server, 50)), ms(pct(m.server, 99)), msf(m.cpu[0]), msf(m.cpu[1]))
	}
	fmt.Printf("\nload average (1 min) %s\n", loadavg())
}
