package flashsale

import (
	"strings"
	"testing"
)

// TestStaleHintFollowsTheSandbox: a stale stock is blamed on the place the sandbox shows the
// copy is, never on the usual suspect.
func TestStaleHintFollowsTheSandbox(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		base  string
		where string
		found bool
		seen  []int64
		want  string
		not   string
	}{
		{"a copy in redis", hintStale, `key "stock:sku-1"`, true, []int64{3, 3}, `Redis, which both replicas share, holds a copy of this item (key "stock:sku-1")`, "memory"},
		{"redis wins over disagreeing replicas", hintDisagree, `key "cache:sku-1:app-2"`, true, []int64{3, 2}, "Redis, which both replicas share", "memory"},
		{"replicas disagree, no redis copy", hintDisagree, "", false, []int64{3, 2}, "replica 1 answered 3, replica 2 answered 2): at least one answers from a copy in its own memory", ""},
		{"stale everywhere, no redis copy", hintStale, "", false, []int64{3, 3}, "Redis holds no copy of this item", "memory"},
		{"not linearizable, no copy found", hintNotLinearizable, "", false, []int64{0, 0}, hintNotLinearizable, "Redis"},
		{"not linearizable, copy in redis", hintNotLinearizable, `key "s"`, true, nil, "Redis, which both replicas share", ""},
		{"lost update, no copy found", hintLostUpdate, "", false, []int64{4, 4}, "lost update", "memory"},
		{"lost update, replicas disagree", hintLostUpdate, "", false, []int64{4, 2}, "at least one answers from a copy in its own memory", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := staleHint(c.base, c.where, c.found, c.seen)
			if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
				t.Errorf("hint %q: want it to say %q and not %q", got, c.want, c.not)
			}
		})
	}
}
