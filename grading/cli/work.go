package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/docker"
)

// runnerReporters is how many GitHub-queue jobs (publications, the reconciler) a runner works
// beside its gradings.
const runnerReporters = 2

// work runs the River worker with cfg (config.Runner's) until ctx ends (SIGTERM, SIGINT);
// lookup finds each job's challenge (the catalog's Lookup).
func work(ctx context.Context, cfg config.Config, lookup func(string) (grading.Challenge, error), stderr io.Writer, log *slog.Logger) int {
	if err := runWorker(ctx, cfg, lookup, log); err != nil {
		fmt.Fprintln(stderr, "runner work:", err)
		return exitGraderError
	}
	return exitPass
}

func runWorker(ctx context.Context, cfg config.Config, lookup func(string) (grading.Challenge, error), log *slog.Logger) error {
	eng, err := docker.New(ctx, cfg.Engine(), log)
	if err != nil {
		return err
	}
	defer eng.Close()
	// Sandboxes older than a grading can be were left by a runner that died: remove them.
	if _, err := eng.Janitor(ctx, jobs.GradeTimeout(cfg.HardCap)); err != nil {
		log.Warn("janitor", "err", err)
	}
	floorBytes, floorPercent := cfg.DiskFloor()
	images, err := docker.NewKeeper(ctx, eng, docker.ImagePolicy{MaxAge: cfg.ImageMaxAge,
		FloorBytes: floorBytes, FloorPercent: floorPercent, DiskPath: cfg.DiskPath}, log)
	if err != nil {
		return err
	}
	p := images.Policy()
	log.Info("image policy", "image_max_age", p.MaxAge, "disk_floor_bytes", p.FloorBytes, "disk_floor_percent", p.FloorPercent, "disk_path", p.DiskPath)
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Conns(cfg.Graders+runnerReporters, 2))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, log); err != nil {
		return err
	}
	app, err := github.NewApp(github.Config{AppID: cfg.AppID, PrivateKey: cfg.PrivateKey, BaseURL: cfg.GitHubURL}, log)
	if err != nil {
		return err
	}
	_, stopHealth, err := serveHealth(cfg.HealthAddr(), healthHandler(eng, st, images.Ready), log)
	if err != nil {
		return err
	}
	defer stopHealth()
	// Sandboxes provisioned ahead: a grading takes one and creates only its app. The pool stops
	// filling when ctx ends and is torn down after the gradings in flight have finished.
	pool := docker.NewPool(ctx, eng, docker.PoolOptions{Size: max(cfg.PoolSize, 0)}, log)
	defer func() {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := pool.Close(pctx); err != nil {
			log.Warn("tearing down the sandbox pool; the janitor will finish it", "err", err)
		}
	}()
	deps := jobs.Deps{Store: st, GitHub: app, Grader: &grading.Grader{Engine: pool, HardCap: cfg.HardCap, Log: log},
		Challenge: lookup, PublicURL: cfg.PublicURL, Log: log, Images: images}
	rc, err := jobs.NewClient(deps, jobs.Options{Graders: cfg.Graders, Reporters: runnerReporters, Reconcile: cfg.Reconcile, RecoverDeliveries: cfg.RecoverDeliveries})
	if err != nil {
		return err
	}
	if err := rc.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	log.Info("runner working", "graders", cfg.Graders, "hard_cap", cfg.HardCap, "pool_size", cfg.PoolSize)
	go sweep(ctx, eng, jobs.GradeTimeout(cfg.HardCap), log)
	go sweepImages(ctx, images, log)
	<-ctx.Done()
	log.Info("runner stopping: no new gradings; waiting for the ones in flight", "grace", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
	defer cancel()
	if err := rc.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if sctx.Err() != nil {
		log.Warn("grace period over: cancelling the gradings in flight; they go back to the queue")
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer ccancel()
		return rc.StopAndCancel(cctx)
	}
	return nil
}

// sweep removes, every half minute, the sandboxes of gradings that can no longer be alive: a
// runner killed mid-grading leaves its sandbox behind, and its job is handed to another runner.
func sweep(ctx context.Context, eng *docker.Engine, maxAge time.Duration, log *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if runs, err := eng.Janitor(ctx, maxAge); err != nil {
				log.Warn("janitor", "err", err)
			} else if len(runs) > 0 {
				log.Info("removed sandboxes of dead gradings", "runs", runs)
			}
		}
	}
}

// imageSweepEvery is how often a working runner sweeps old learner images and build leftovers.
const imageSweepEvery = 10 * time.Minute

// sweepImages sweeps at once and then every imageSweepEvery (see docker.Keeper.Sweep).
func sweepImages(ctx context.Context, k *docker.Keeper, log *slog.Logger) {
	t := time.NewTicker(imageSweepEvery)
	defer t.Stop()
	for {
		rep, err := k.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("image sweep", "err", err)
		}
		if rep != (docker.SweepReport{}) {
			log.Info("swept learner images", "images", rep.Images, "dangling", rep.Dangling, "containers", rep.Containers,
				"expired_holds", rep.Holds, "reclaimed_bytes", rep.Reclaimed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
