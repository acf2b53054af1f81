package metrics

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
)

// jobsQueryTimeout bounds the count at scrape time; Prometheus's own scrape timeout is 10 s by
// default.
const jobsQueryTimeout = 5 * time.Second

var jobsDesc = prometheus.NewDesc("holdfast_jobs",
	"River jobs by queue and state, counted in river_job at scrape time (completed, cancelled and discarded jobs until River's cleaner deletes them).",
	[]string{"queue", "state"}, nil)

// JobsCollector counts River's jobs by queue and state in pool's database at every scrape
// (gauge holdfast_jobs{queue,state}). Every state of a queue that has any job is reported, zero
// included, so that a backlog draining to nothing reads 0 rather than vanishing. A failed query
// is reported as an invalid metric: that scrape lacks holdfast_jobs and the error is logged.
func JobsCollector(pool *pgxpool.Pool) prometheus.Collector { return &jobsCollector{pool: pool} }

type jobsCollector struct{ pool *pgxpool.Pool }

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	for queue, states := range counts {
		for _, state := range rivertype.JobStates() {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(states[string(state)]), queue, string(state))
		}
		for state, n := range states {
			if !isRiverState(state) { // a state this River does not know yet: still counted
				ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), queue, state)
			}
		}
	}
}

func (c *jobsCollector) count() (map[string]map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jobsQueryTimeout)
	defer cancel()
	rows, err := c.pool.Query(ctx, "SELECT queue, state::text, count(*) FROM river_job GROUP BY 1, 2")
	if err != nil {
		return nil, fmt.Errorf("count river jobs: %w", err)
	}
	defer rows.Close()
	counts := map[string]map[string]int64{}
	for rows.Next() {
		var queue, state string
		var n int64
		if err := rows.Scan(&queue, &state, &n); err != nil {
			return nil, fmt.Errorf("count river jobs: %w", err)
		}
		if counts[queue] == nil {
			counts[queue] = map[string]int64{}
		}
		counts[queue][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count river jobs: %w", err)
	}
	return counts, nil
}

func isRiverState(s string) bool {
	return slices.Contains(rivertype.JobStates(), rivertype.JobState(s))
}
