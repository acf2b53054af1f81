package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
)

// Pool defaults.
const (
	// DefaultPoolMaxIdle is PoolOptions.MaxIdle when none is given.
	DefaultPoolMaxIdle = 5 * time.Minute
	// DefaultPoolMinFreeMB is PoolOptions.MinFreeMB when none is given: room for the gradings'
	// own app containers (512 MiB each by default) beside the pooled sandboxes.
	DefaultPoolMinFreeMB = 1024
)

// PoolOptions size a Pool. Each field states its default.
type PoolOptions struct {
	// Size is how many sandboxes the pool keeps ready. 0 keeps none: every Provision is cold.
	Size int
	// MaxIdle is how long a sandbox may wait for a grading; an older one is replaced. It is
	// written on the sandbox (LabelPoolIdle), so every runner's Janitor spares a waiting
	// sandbox that long, and removes a killed runner's pool once MaxIdle plus the janitor's
	// own max age have passed. Default DefaultPoolMaxIdle (5 min); at least 1 s.
	MaxIdle time.Duration
	// MinFreeMB: no sandbox is provisioned ahead while the host has less memory available
	// (MemAvailable in /proc/meminfo, read where the runner runs). Default DefaultPoolMinFreeMB;
	// negative turns the check off (an engine on another machine, whose memory this process
	// cannot see).
	MinFreeMB int64
}

func (o PoolOptions) withDefaults() PoolOptions {
	if o.MaxIdle == 0 {
		o.MaxIdle = DefaultPoolMaxIdle
	}
	if o.MaxIdle < time.Second {
		o.MaxIdle = time.Second
	}
	if o.MinFreeMB == 0 {
		o.MinFreeMB = DefaultPoolMinFreeMB
	}
	return o
}

// Pool keeps sandboxes provisioned ahead of the gradings that will need them: networks,
// Postgres with an empty database, Redis and the agent, started and answering. A grading takes
// one and only creates its app containers; the pool provisions a replacement in the
// background. A sandbox is never used by two gradings: the grading that takes it tears it down.
//
// Pool is a grading.Engine (Build is the Engine's): give it to a grading.Grader in place of the
// Engine. Close tears down the sandboxes still waiting.
type Pool struct {
	e    *Engine
	opts PoolOptions
	log  *slog.Logger
	wake chan struct{} // a take happened: fill again; capacity 1
	stop context.CancelFunc
	done chan struct{} // closed when the fill loop has returned
	gone sync.WaitGroup

	mu      sync.Mutex
	ready   []*sandbox // oldest first
	hits    int
	misses  int
	tearing int  // handed-out sandboxes being torn down in the background
	closed  bool // Close began: teardowns run in the caller again
}

// PoolStats is what a Pool holds and has handed out.
type PoolStats struct {
	Ready  int // sandboxes waiting now
	Hits   int // Provisions served by a waiting sandbox
	Misses int // Provisions that found none and provisioned one there and then
	// TearingDown counts the sandboxes gradings have given back that are still being removed.
	TearingDown int
}

// NewPool starts filling a pool of opts.Size sandboxes on e. It stops provisioning when ctx
// ends; call Close to tear down the ones still waiting.
func NewPool(ctx context.Context, e *Engine, opts PoolOptions, log *slog.Logger) *Pool {
	opts = opts.withDefaults()
	ctx, stop := context.WithCancel(ctx)
	p := &Pool{e: e, opts: opts, log: log, wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go p.fill(ctx)
	return p
}

// Build builds with the pool's Engine.
func (p *Pool) Build(ctx context.Context, dir string) (grading.BuildResult, error) {
	return p.e.Build(ctx, dir)
}

// Ping reports whether the pool's Engine answers (grading.Grader.Ready).
func (p *Pool) Ping(ctx context.Context) error { return p.e.Ping(ctx) }

// Stats says what the pool holds and has handed out.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Ready: len(p.ready), Hits: p.hits, Misses: p.misses, TearingDown: p.tearing}
}

// Provision implements grading.Engine. It hands over a waiting sandbox that is still intact and
// creates the app's containers in it; with none waiting it provisions one as Engine.Provision
// does. A pool of at least one sandbox hands over sandboxes whose Teardown returns at once and
// removes them in the background (see handed); a pool of none hands over Engine.Provision's.
func (p *Pool) Provision(ctx context.Context, image string, limits grading.Limits) (grading.Sandbox, error) {
	for {
		s := p.take()
		if s == nil {
			break
		}
		t := time.Now()
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Intact(ictx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				p.discard(s)
				return nil, ctx.Err()
			}
			p.log.Warn("a pooled sandbox is not intact; removing it", "run", s.id, "err", err)
			p.discard(s)
			continue
		}
		s.mu.Lock()
		s.began, s.phases = t, nil
		s.mu.Unlock()
		s.mark("take from the pool (intact check)", t)
		s.setLimits(limits)
		p.count(true)
		return p.hand(s), s.createApps(ctx, image)
	}
	p.count(false)
	if p.opts.Size == 0 { // a pool of none (HOLDFAST_POOL_SIZE off) misses by design
		return p.e.Provision(ctx, image, limits)
	}
	p.log.Info("sandbox pool empty: provisioning one for this grading; if this is frequent, raise HOLDFAST_POOL_SIZE (memory allowing)", "pool_size", p.opts.Size)
	s := p.e.newSandbox(limits, 0)
	return p.hand(s), s.provision(ctx, image)
}

// backgroundTeardowns bounds the handed-out sandboxes a pool removes in the background at once;
// past it, Teardown removes in the caller, as Engine's does, so that gradings faster than their
// removals cannot pile sandboxes up.
const backgroundTeardowns = 4

// handed is a sandbox a pool handed to a grading. Its Teardown returns at once and removes it in
// the background (Close waits for that), so that the grading's verdict is stored and published
// without waiting for its containers and networks to go: on a loaded 2-core machine that wait
// was 3–8 s of a 20 s push (grading/app/jobs/bench, TestPushBench). A removal that fails is
// logged, and the janitor removes what is left. Every other method is the sandbox's own.
type handed struct {
	*sandbox
	p    *Pool
	once sync.Once
	err  error
}

func (p *Pool) hand(s *sandbox) *handed { return &handed{sandbox: s, p: p} }

// Teardown implements grading.Sandbox: the removal starts and, with fewer than
// backgroundTeardowns under way and the pool open, runs on after it returns. It is idempotent.
func (h *handed) Teardown(ctx context.Context) error {
	h.once.Do(func() {
		p := h.p
		p.mu.Lock()
		if p.closed || p.tearing >= backgroundTeardowns {
			p.mu.Unlock()
			h.err = h.sandbox.Teardown(ctx)
			return
		}
		p.tearing++
		p.gone.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.gone.Done()
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := h.sandbox.Teardown(tctx); err != nil {
				p.log.Error("sandbox teardown failed; the janitor will retry", "run", h.id, "err", err)
			}
			p.mu.Lock()
			p.tearing--
			p.mu.Unlock()
		}()
	})
	return h.err
}

func (p *Pool) count(hit bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hit {
		p.hits++
	} else {
		p.misses++
	}
}

// take removes the oldest waiting sandbox that has not outlived MaxIdle from the pool and wakes
// the fill loop; expired ones on the way are torn down. It returns nil when none waits.
func (p *Pool) take() *sandbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.nudge()
	for len(p.ready) > 0 {
		s := p.ready[0]
		p.ready = p.ready[1:]
		if p.expired(s) {
			p.discardLocked(s)
			continue
		}
		return s
	}
	return nil
}

func (p *Pool) nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// expired reports whether s has waited MaxIdle or longer: a janitor may take it from then on.
func (p *Pool) expired(s *sandbox) bool {
	created, err := strconv.ParseInt(s.created, 10, 64)
	return err != nil || time.Since(time.Unix(created, 0)) >= p.opts.MaxIdle-time.Second
}

// discard tears s down in the background; Close waits for it.
func (p *Pool) discard(s *sandbox) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discardLocked(s)
}

func (p *Pool) discardLocked(s *sandbox) {
	p.gone.Add(1)
	go func() {
		defer p.gone.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Teardown(ctx); err != nil {
			p.log.Warn("removing a pooled sandbox failed; the janitor will retry", "run", s.id, "err", err)
		}
	}()
}

// fill keeps the pool at its size until ctx ends: one provision at a time, replacing the
// sandboxes that outlive MaxIdle, and none while memory is short.
func (p *Pool) fill(ctx context.Context) {
	defer close(p.done)
	check := min(p.opts.MaxIdle/4, 30*time.Second)
	tick := time.NewTicker(check)
	defer tick.Stop()
	var backoff time.Duration
	short := false
	for {
		p.retire()
		if p.wanted() {
			free, err := memAvailableMB()
			low := p.opts.MinFreeMB > 0 && (err != nil || free < p.opts.MinFreeMB)
			if low != short {
				short = low
				if low {
					p.log.Warn("memory is short: the sandbox pool provisions no more ahead, and gradings provision their own sandbox, cold; free memory on the runner's host or lower HOLDFAST_POOL_SIZE", "available_mb", free, "min_free_mb", p.opts.MinFreeMB, "err", err)
				} else {
					p.log.Info("memory is back: the sandbox pool fills again", "available_mb", free)
				}
			}
			if !low {
				err := p.provisionOne(ctx)
				if err == nil {
					backoff = 0
					continue
				}
				if ctx.Err() != nil {
					return
				}
				backoff = min(max(2*backoff, time.Second), time.Minute)
				p.log.Warn("provisioning a pooled sandbox failed; retrying", "err", err, "retry_in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
	}
}

// wanted reports whether the pool has fewer sandboxes than its size.
func (p *Pool) wanted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready) < p.opts.Size
}

// retire tears down the waiting sandboxes that have outlived MaxIdle.
func (p *Pool) retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.ready[:0]
	for _, s := range p.ready {
		if p.expired(s) {
			p.discardLocked(s)
			continue
		}
		kept = append(kept, s)
	}
	clear(p.ready[len(kept):])
	p.ready = kept
}

// provisionOne provisions a sandbox without an app and adds it to the pool.
func (p *Pool) provisionOne(ctx context.Context) error {
	s := p.e.newSandbox(grading.Limits{}, p.opts.MaxIdle)
	if err := s.provision(ctx, ""); err != nil {
		p.discard(s)
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, s)
	return nil
}

// Close stops filling the pool and tears down every sandbox still waiting, and waits for the
// removals under way; the sandboxes already taken are their gradings' to tear down.
func (p *Pool) Close(ctx context.Context) error {
	p.stop()
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("close the sandbox pool: a provision did not end: %w", ctx.Err())
	}
	// The fill loop, the only one that adds to the pool, has ended: what waits now is all.
	// Gradings still running tear their sandboxes down themselves from now on.
	p.mu.Lock()
	waiting := p.ready
	p.ready = nil
	p.closed = true
	p.mu.Unlock()
	err := parallel(len(waiting), func(i int) error { return waiting[i].Teardown(ctx) })
	gone := make(chan struct{})
	go func() {
		p.gone.Wait()
		close(gone)
	}()
	select {
	case <-gone:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("close the sandbox pool: removals still under way: %w", ctx.Err()))
	}
	return err
}

// memAvailableMB reads MemAvailable from /proc/meminfo, in MiB.
func memAvailableMB() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read available memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read available memory: %q: %w", sc.Text(), err)
		}
		return kb >> 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read available memory: %w", err)
	}
	return 0, errors.New("read available memory: /proc/meminfo has no MemAvailable line")
}
