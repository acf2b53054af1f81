package capacitycheckout

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// ClaimFile is where the learner writes the capacity claim: the repository's root.
const ClaimFile = "CAPACITY.yaml"

// The resources a claim may name as saturating first, and what Holdfast sees of each (the brief
// says the same).
const (
	// ResourcePostgres: at the first rate that broke the SLO, the app's open Postgres
	// connections were at least PoolBusy busy on average (running a query or inside a
	// transaction), and it had at most PoolCap open.
	ResourcePostgres = "postgres-connections"
	// ResourceAppLimit: not the connections; the app turned most of the excess away with 503
	// itself (an in-flight limit, a bounded queue).
	ResourceAppLimit = "app-limit"
	// ResourceAppCPU: neither: the app slowed down on its own (its CPU, a lock, a queue without
	// a bound).
	ResourceAppCPU = "app-cpu"
)

// Resources is the fixed list a claim's saturates_first names one of.
var Resources = []string{ResourcePostgres, ResourceAppLimit, ResourceAppCPU}

// What a claim's at_2x names.
const (
	At2xShed  = "shed"  // at least 5 % of the answers at twice the claimed rate are fast 503s
	At2xQueue = "queue" // fewer: the excess waits for its turn
)

// Claim is a parsed CAPACITY.yaml.
type Claim struct {
	// SustainedRPS is the rate the service holds under the SLO: the knee `holdfast test`
	// measured.
	SustainedRPS float64 `yaml:"sustained_rps"`
	// SaturatesFirst is one of Resources.
	SaturatesFirst string `yaml:"saturates_first"`
	// At2x is At2xShed or At2xQueue.
	At2x string `yaml:"at_2x"`
	// RecoverySeconds is how long after the load drops the service is back under the SLO, at most.
	RecoverySeconds float64 `yaml:"recovery_seconds"`
}

// claimExample is what the learner is told to write.
const claimExample = `sustained_rps: 80                      # the knee holdfast test measured (checkouts/s)
saturates_first: postgres-connections  # postgres-connections, app-limit or app-cpu
at_2x: shed                            # shed or queue
recovery_seconds: 1                    # seconds back under the SLO once the load drops`

// ParseClaim reads a CAPACITY.yaml. Its errors are learner-facing: each says what is wrong and
// what to write instead.
func ParseClaim(b []byte) (Claim, error) {
	var c struct {
		SustainedRPS    *float64 `yaml:"sustained_rps"`
		SaturatesFirst  *string  `yaml:"saturates_first"`
		At2x            *string  `yaml:"at_2x"`
		RecoverySeconds *float64 `yaml:"recovery_seconds"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return Claim{}, fmt.Errorf("%s is empty: write the four fields, e.g.\n%s", ClaimFile, claimExample)
		}
		return Claim{}, fmt.Errorf("%s is not the claim's YAML (%s): write the four fields, e.g.\n%s", ClaimFile, yamlError(err), claimExample)
	}
	var missing []string
	for name, set := range map[string]bool{"sustained_rps": c.SustainedRPS != nil, "saturates_first": c.SaturatesFirst != nil,
		"at_2x": c.At2x != nil, "recovery_seconds": c.RecoverySeconds != nil} {
		if !set {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Claim{}, fmt.Errorf("%s has no %s: write the four fields, e.g.\n%s", ClaimFile, strings.Join(missing, ", "), claimExample)
	}
	out := Claim{SustainedRPS: *c.SustainedRPS, SaturatesFirst: *c.SaturatesFirst, At2x: *c.At2x, RecoverySeconds: *c.RecoverySeconds}
	switch {
	case !(out.SustainedRPS > 0 && out.SustainedRPS <= 100_000):
		return Claim{}, fmt.Errorf("%s: sustained_rps is %v; write the checkouts per second your service holds under the SLO, a number above 0 (e.g. sustained_rps: 80)", ClaimFile, out.SustainedRPS)
	case !slices.Contains(Resources, out.SaturatesFirst):
		return Claim{}, fmt.Errorf("%s: saturates_first is %q; write one of %s", ClaimFile, out.SaturatesFirst, strings.Join(Resources, ", "))
	case out.At2x != At2xShed && out.At2x != At2xQueue:
		return Claim{}, fmt.Errorf("%s: at_2x is %q; write shed (the excess gets fast 503s) or queue (it waits its turn)", ClaimFile, out.At2x)
	case !(out.RecoverySeconds >= 0 && out.RecoverySeconds <= 60):
		return Claim{}, fmt.Errorf("%s: recovery_seconds is %v; write the seconds your service takes to be back under the SLO once the load drops, from 0 to 60 (e.g. recovery_seconds: 1)", ClaimFile, out.RecoverySeconds)
	}
	return out, nil
}

// yamlError is the decoder's message without its package prefix.
func yamlError(err error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
}

// readClaim reads and parses the learner's claim; a missing or bad one is the learner's failure,
// worded to say what to write.
func readClaim(h *scenarios.Harness) (Claim, error) {
	b, err := h.ReadSource(ClaimFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Claim{}, scenarios.Failf("a capacity claim in "+ClaimFile+" at the root of your repository",
			"Create "+ClaimFile+" beside your Dockerfile with:\n"+claimExample+"\nthen run holdfast test: a failing claim says what was measured.",
			"no %s in the repository", ClaimFile)
	case errors.Is(err, scenarios.ErrNoSource):
		return Claim{}, err // ours: the grading did not say where the submission is
	case err != nil:
		return Claim{}, scenarios.Failf("a capacity claim in "+ClaimFile+" at the root of your repository",
			"Write "+ClaimFile+" as a plain file of at most 64 KiB.", "%v", err)
	}
	c, err := ParseClaim(b)
	if err != nil {
		return Claim{}, scenarios.Failf("a capacity claim Holdfast can read in "+ClaimFile, "Fix "+ClaimFile+" as the message says.", "%v", err)
	}
	return c, nil
}
