package docker

import (
	"errors"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
)

// Phase is one step of getting a sandbox ready: where the milliseconds of a Provision go.
type Phase struct {
	Name  string
	Start time.Duration // after provisioning (or a Pool's hand-over) began
	Took  time.Duration
}

// Phases returns how long each step of sb's provisioning took, in the order they ended. Steps
// that ran side by side overlap. A sandbox taken from a Pool lists the hand-over's steps only.
// A Sandbox that is not this package's has none.
func Phases(sb grading.Sandbox) []Phase {
	var s *sandbox
	switch sb := sb.(type) {
	case *sandbox:
		s = sb
	case *handed:
		s = sb.sandbox
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Phase(nil), s.phases...)
}

// mark records that the step name, begun at since, has ended.
func (s *sandbox) mark(name string, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phases = append(s.phases, Phase{Name: name, Start: since.Sub(s.began), Took: time.Since(since)})
}

// parallel runs f(0) … f(n-1) side by side and joins their errors.
func parallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
