package agent

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// Traffic is what the app sent the fakes so far: when the agent dies, the runner reads the last
// "traffic" line of its log to say what the app was doing to it.
type Traffic struct {
	Requests int64
	Bytes    int64 // request bodies as declared (Content-Length) plus headers, roughly
}

const trafficMsg = "traffic"

type traffic struct {
	requests atomic.Int64
	bytes    atomic.Int64
}

func (t *traffic) now() Traffic {
	return Traffic{Requests: t.requests.Load(), Bytes: t.bytes.Load()}
}

// count counts every request to next before it is read.
func (t *traffic) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.requests.Add(1)
		n := int64(len(r.Method) + len(r.RequestURI) + 12)
		for k, vs := range r.Header {
			for _, v := range vs {
				n += int64(len(k) + len(v) + 4)
			}
		}
		if r.ContentLength > 0 {
			n += r.ContentLength
		}
		t.bytes.Add(n)
		next.ServeHTTP(w, r)
	})
}

// LastTraffic finds the latest traffic line in the agent's log (slog's text format), and
// whether there was one.
func LastTraffic(log string) (Traffic, bool) {
	var last Traffic
	found := false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg="+trafficMsg+" ") {
			continue
		}
		var t Traffic
		ok := 0
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "requests":
				t.Requests, ok = n, ok+1
			case "bytes":
				t.Bytes, ok = n, ok+1
			}
		}
		if ok == 2 {
			last, found = t, true
		}
	}
	return last, found
}
