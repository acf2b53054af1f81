package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// Every bucket's highest value maps back to that bucket and the next value to the next bucket, so
// the buckets tile the int64 range without gaps or overlaps.
func TestBucketsTileTheRange(t *testing.T) {
	t.Parallel()
	for i := 0; i < numBuckets-1; i++ {
		hi := upper(i)
		if got := bucket(hi); got != i {
			t.Fatalf("upper(%d) = %d falls in bucket %d", i, hi, got)
		}
		if got := bucket(hi + 1); got != i+1 {
			t.Fatalf("upper(%d)+1 = %d falls in bucket %d, want %d", i, hi+1, got, i+1)
		}
	}
	if got := bucket(math.MaxInt64); got != numBuckets-1 {
		t.Fatalf("MaxInt64 falls in bucket %d, want the last, %d", got, numBuckets-1)
	}
}

// Percentiles read from the histogram are the exact ones (from the sorted sample) or at most
// 1/128 above them, never below, over latencies spread across six orders of magnitude.
func TestQuantilesMatchTheSortedSample(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var sample []time.Duration
	for range 200_000 {
		// Log-uniform from 1 µs to 10 s, plus a few exact small values.
		d := time.Duration(math.Exp(rng.Float64()*math.Log(1e7)) * float64(time.Microsecond))
		if rng.IntN(100) == 0 {
			d = time.Duration(rng.IntN(300))
		}
		h.Record(d)
		sample = append(sample, d)
	}
	slices.Sort(sample)
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := sample[int(math.Ceil(q*float64(len(sample))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/128 {
			t.Errorf("quantile %v = %v, exact %v: want within +1/128", q, got, exact)
		}
	}
	if h.Max() != sample[len(sample)-1] || h.Min() != sample[0] {
		t.Errorf("min, max = %v, %v; exact %v, %v", h.Min(), h.Max(), sample[0], sample[len(sample)-1])
	}
	if h.Count() != uint64(len(sample)) {
		t.Errorf("count %d, recorded %d", h.Count(), len(sample))
	}
}

// Recording from many goroutines loses nothing.
func TestHistogramIsSafeForConcurrentRecords(t *testing.T) {
	t.Parallel()
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10_000 {
				h.Record(time.Duration(g*10_000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if h.Count() != 80_000 || h.Max() != 79_999*time.Microsecond || h.Min() != 0 {
		t.Fatalf("count %d, min %v, max %v; want 80000, 0s, 79.999ms", h.Count(), h.Min(), h.Max())
	}
	if p50 := h.Quantile(0.5); p50 < 39_999*time.Microsecond || p50 > 40_400*time.Microsecond {
		t.Fatalf("p50 %v, want ≈40ms", p50)
	}
}
