package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Set is one registry of Holdfast's metrics. The zero value is not usable; call New.
type Set struct {
	reg *prometheus.Registry

	webhookDuration   *prometheus.HistogramVec
	webhookDeliveries *prometheus.CounterVec
	githubRequests    *prometheus.CounterVec
	rateLimitWait     prometheus.Counter
	rateLimited       prometheus.Counter
	stage             *prometheus.HistogramVec
	repairs           *prometheus.CounterVec
	redelivered       prometheus.Counter
	diskFree          prometheus.Gauge
	diskFloor         prometheus.Gauge
	paused            *prometheus.GaugeVec
	imagesRemoved     *prometheus.CounterVec
}

// New returns a Set with every Holdfast metric and the Go and process collectors registered.
func New() *Set {
	s := &Set{
		reg: prometheus.NewRegistry(),
		webhookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "holdfast_webhook_duration_seconds",
			Help: "Time the App took to answer a GitHub webhook delivery, by event.",
			// The handler only writes to Postgres: milliseconds, and GitHub gives up at 10 s.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"event"}),
		webhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_webhook_deliveries_total",
			Help: "GitHub webhook deliveries answered, by event and HTTP status code.",
		}, []string{"event", "code"}),
		githubRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_github_requests_total",
			Help: `Requests to the GitHub API, by method, route (ids, owners and repositories collapsed) and status ("error" when no answer came).`,
		}, []string{"method", "route", "status"}),
		rateLimitWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "holdfast_github_ratelimit_wait_seconds_total",
			Help: "Seconds spent waiting for GitHub's rate limits (primary and secondary) to pass.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "holdfast_github_ratelimited_total",
			Help: "Times a GitHub request waited for a rate limit before being retried.",
		}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "holdfast_grading_stage_seconds",
			Help: "Duration of a grading's stages: build, provision, start, scenarios.",
			// A cached build is instant, a cold one takes most of the 120 s hard cap.
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"stage"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_reconciler_repairs_total",
			Help: "Inconsistencies the reconciler found and repaired, by kind.",
		}, []string{"kind"}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "holdfast_deliveries_redelivered_total",
			Help: "Webhook deliveries that failed or never arrived and were recovered by asking GitHub to redeliver them.",
		}),
		diskFree: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "holdfast_runner_disk_free_bytes",
			Help: "Free bytes on the Docker engine's data root, measured when the runner was last offered a job or asked GET /readyz.",
		}),
		diskFloor: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "holdfast_runner_disk_floor_bytes",
			Help: "The disk-free floor (HOLDFAST_DISK_FLOOR) below which the runner takes no job.",
		}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "holdfast_runner_paused",
			Help: "1 while the runner takes no job for reason (disk: its engine's disk is below the floor), else 0.",
		}, []string{"reason"}),
		imagesRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_images_removed_total",
			Help: "Learner images removed, by reason: branch (a newer grading of the branch), age (unused longer than HOLDFAST_IMAGE_MAX_AGE), floor (pruned below the disk floor), dangling (build leftovers).",
		}, []string{"reason"}),
	}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.webhookDuration, s.webhookDeliveries, s.githubRequests, s.rateLimitWait, s.rateLimited,
		s.stage, s.repairs, s.redelivered, s.diskFree, s.diskFloor, s.paused, s.imagesRemoved,
	)
	return s
}

// Default is the process's Set: the one the package-level functions move and Handler serves.
var Default = New()

// Register adds c (such as JobsCollector) to the set, to be collected at every scrape.
func (s *Set) Register(c prometheus.Collector) error {
	if err := s.reg.Register(c); err != nil {
		return fmt.Errorf("register metrics collector: %w", err)
	}
	return nil
}

// Handler serves the set in Prometheus's exposition format. A collector that fails (the jobs
// query when the database is down) leaves its metric out and the rest is still served: an
// operator needs the other metrics most when the database is in trouble.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            errorLog{},
		Timeout:             30 * time.Second,
		MaxRequestsInFlight: 4,
	})
}

// errorLog sends promhttp's collection errors to slog's default logger.
type errorLog struct{}

func (errorLog) Println(v ...any) { slog.Warn("metrics: "+fmt.Sprint(v...), "component", "metrics") }

// ObserveStage records how long a grading's stage took ("build", "provision", "start",
// "scenarios").
func (s *Set) ObserveStage(stage string, d time.Duration) {
	s.stage.WithLabelValues(stage).Observe(d.Seconds())
}

// RateLimitWait records that a GitHub request waits d for a rate limit before being retried.
func (s *Set) RateLimitWait(d time.Duration) {
	s.rateLimited.Inc()
	s.rateLimitWait.Add(max(d, 0).Seconds())
}

// Repaired counts one inconsistency of kind the reconciler repaired.
func (s *Set) Repaired(kind string) { s.repairs.WithLabelValues(kind).Inc() }

// Redelivered counts one webhook delivery recovered by a redelivery.
func (s *Set) Redelivered() { s.redelivered.Inc() }

// DiskFree records the engine's free disk and the floor, in bytes.
func (s *Set) DiskFree(free, floor uint64) {
	s.diskFree.Set(float64(free))
	s.diskFloor.Set(float64(floor))
}

// Paused records whether the runner takes no job for reason.
func (s *Set) Paused(reason string, paused bool) {
	v := 0.0
	if paused {
		v = 1
	}
	s.paused.WithLabelValues(reason).Set(v)
}

// ImagesRemoved counts n learner images removed for reason.
func (s *Set) ImagesRemoved(reason string, n int) {
	s.imagesRemoved.WithLabelValues(reason).Add(float64(n))
}

// Register adds c to Default.
func Register(c prometheus.Collector) error { return Default.Register(c) }

// Handler serves Default.
func Handler() http.Handler { return Default.Handler() }

// ObserveStage records a grading stage's duration in Default.
func ObserveStage(stage string, d time.Duration) { Default.ObserveStage(stage, d) }

// RateLimitWait records a rate-limit wait of d in Default; the GitHub client's retry layer calls it.
func RateLimitWait(d time.Duration) { Default.RateLimitWait(d) }

// Repaired counts a reconciler repair of kind in Default.
func Repaired(kind string) { Default.Repaired(kind) }

// Redelivered counts a recovered webhook delivery in Default.
func Redelivered() { Default.Redelivered() }

// DiskFree records the engine's free disk and floor in Default.
func DiskFree(free, floor uint64) { Default.DiskFree(free, floor) }

// Paused records in Default whether the runner takes no job for reason.
func Paused(reason string, paused bool) { Default.Paused(reason, paused) }

// ImagesRemoved counts n removed learner images in Default.
func ImagesRemoved(reason string, n int) { Default.ImagesRemoved(reason, n) }

// Webhook wraps the webhook handler with Default's latency and delivery metrics.
func Webhook(next http.Handler) http.Handler { return Default.Webhook(next) }

// Transport wraps an HTTP transport to GitHub with Default's request counter.
func Transport(next http.RoundTripper) http.RoundTripper { return Default.Transport(next) }
