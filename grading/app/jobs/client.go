package jobs

import (
	"cmp"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Options say which queues a process works and how hard.
type Options struct {
	// Graders is how many gradings run at once (each is one sandbox); 0 works no grading queue.
	Graders int
	// Reporters is how many queued-check-run reports run at once; 0 works no GitHub queue.
	Reporters int
	// RescueAfter is when a grading whose runner died is handed to another. Default: the
	// grading timeout plus 15 s.
	RescueAfter time.Duration
	// DeadlineScan is how often take-home deadlines that passed are looked for (also once when
	// the leader starts); the scan runs on the GitHub queue. Default DefaultDeadlineScan.
	DeadlineScan time.Duration
	// Reconcile is how often runs whose GitHub state lags are looked for (also once when the
	// leader starts). Default DefaultReconcile. ReconcileIdle is how long a run's state must
	// have stood still first (default 30 s).
	Reconcile, ReconcileIdle time.Duration
	// RecoverDeliveries is how often webhook deliveries the App never took are looked for and
	// redelivered (also once when the leader starts). Default DefaultRecoverDeliveries;
	// negative turns it off.
	RecoverDeliveries time.Duration
}

// NewClient returns a River client that inserts Holdfast's jobs and works the queues opts names.
// With no queues it only inserts (the App's webhook handler).
func NewClient(deps Deps, opts Options) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &GradeWorker{Deps: deps})
	river.AddWorker(workers, &ReportQueuedWorker{Deps: deps})
	river.AddWorker(workers, &CompareWorker{Deps: deps})
	river.AddWorker(workers, &ReportCompareQueuedWorker{Deps: deps})
	river.AddWorker(workers, &TakeHomeScanWorker{Deps: deps})
	river.AddWorker(workers, &CloseTakeHomeWorker{Deps: deps})
	river.AddWorker(workers, &FinalGradeWorker{Deps: deps})
	river.AddWorker(workers, &PublishWorker{Deps: deps})
	river.AddWorker(workers, &ReconcileWorker{Deps: deps, Idle: opts.ReconcileIdle})
	river.AddWorker(workers, &RecoverDeliveriesWorker{Deps: deps})
	queues := map[string]river.QueueConfig{}
	if opts.Graders > 0 {
		queues[QueueGrade] = river.QueueConfig{MaxWorkers: opts.Graders}
	}
	if opts.Reporters > 0 {
		queues[QueueGitHub] = river.QueueConfig{MaxWorkers: opts.Reporters}
	}
	cfg := &river.Config{Workers: workers, Logger: deps.Log}
	if len(queues) > 0 {
		cfg.Queues = queues
		timeout := time.Minute
		if deps.Grader != nil {
			timeout = deps.gradeTimeout()
		}
		cfg.JobTimeout = timeout
		cfg.RescueStuckJobsAfter = opts.RescueAfter
		if cfg.RescueStuckJobsAfter == 0 {
			cfg.RescueStuckJobsAfter = timeout + 15*time.Second
		}
	}
	if len(queues) > 0 {
		// Every working client schedules the scan: River runs periodic jobs on the elected
		// leader only, which may be any of them.
		every := opts.DeadlineScan
		if every == 0 {
			every = DefaultDeadlineScan
		}
		cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return TakeHomeScanArgs{}, nil },
			&river.PeriodicJobOpts{ID: "takehome_scan", RunOnStart: true})}
		reconcile := cmp.Or(opts.Reconcile, DefaultReconcile)
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(reconcile),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
			&river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true}))
		if recoverEvery := cmp.Or(opts.RecoverDeliveries, DefaultRecoverDeliveries); recoverEvery > 0 {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(recoverEvery),
				func() (river.JobArgs, *river.InsertOpts) { return RecoverDeliveriesArgs{}, nil },
				&river.PeriodicJobOpts{ID: "recover_deliveries", RunOnStart: true}))
		}
	}
	c, err := river.NewClient(riverpgxv5.New(deps.Store.Pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return c, nil
}
