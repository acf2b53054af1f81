package load

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets, HDR-style: exact below 256 ns, then 128
// buckets per power of two, so a value read back is at most 1/128 (0.8 %) above the value
// recorded, from nanoseconds to hours. It is used instead of keeping every sample because its size
// is fixed (7 296 counters, 57 KiB) however long or fast a run is, recording is one atomic add
// from any goroutine, and 0.8 % is far below what a shared machine's noise moves a p99. The
// minimum and maximum are kept exactly. The zero value is ready to use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
	min    atomic.Int64 // stored as value+1, so that 0 means "nothing recorded yet"
}

const (
	subBits    = 7
	subCount   = 1 << subBits         // buckets per power of two
	linear     = 2 * subCount         // values below this have a bucket each
	numBuckets = linear + 55*subCount // shifts 1…55 cover every positive int64
)

// bucket returns the index of the bucket v falls in.
func bucket(v int64) int {
	if v < linear {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	return linear + (shift-1)*subCount + int(v>>shift) - subCount
}

// upper is the highest value bucket i holds.
func upper(i int) int64 {
	if i < linear {
		return int64(i)
	}
	shift := (i-linear)/subCount + 1
	sub := int64((i-linear)%subCount + subCount)
	return sub<<shift + (1<<shift - 1)
}

// Record adds one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucket(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
	for cur := h.min.Load(); (cur == 0 || v+1 < cur) && !h.min.CompareAndSwap(cur, v+1); cur = h.min.Load() {
	}
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the longest duration recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min is the shortest duration recorded, exactly (0 when nothing was).
func (h *Histogram) Min() time.Duration { return time.Duration(max(h.min.Load()-1, 0)) }

// Mean is the average duration recorded.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the q-quantile (0 < q ≤ 1): the smallest recorded duration that at least
// ⌈q·n⌉ of the n durations do not exceed, read as its bucket's highest value (never below the
// true one, at most 0.8 % above) and never above Max. It is 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(upper(i)), h.Max())
		}
	}
	return h.Max() // recorded concurrently with this read: the counts ran ahead of n
}

// Summary is a histogram's reading: the percentiles a report shows.
type Summary struct {
	Count                    uint64
	Min, Mean                time.Duration
	P50, P90, P99, P999, Max time.Duration
}

// Summary reads the histogram's percentiles.
func (h *Histogram) Summary() Summary {
	return Summary{Count: h.Count(), Min: h.Min(), Mean: h.Mean(),
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max()}
}
