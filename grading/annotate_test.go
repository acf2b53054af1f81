package grading

import (
	"reflect"
	"testing"
)

func TestAnnotations(t *testing.T) {
	t.Parallel()
	files := []string{"main.go", "internal/pay/pay.go", "src/index.ts", "app/main.py", "app/db.py", "a/util.go", "b/util.go"}
	cases := []struct {
		name string
		log  string
		want []Annotation
	}{
		{"go build in WORKDIR", "Step 7/9 : RUN go build\n ---> Running in abc\n# example.com/payments\n./main.go:12:5: undefined: handler\n./internal/pay/pay.go:3:2: \"fmt\" imported and not used\n",
			[]Annotation{{"main.go", 12, 5, "undefined: handler"}, {"internal/pay/pay.go", 3, 2, `"fmt" imported and not used`}}},
		{"absolute container path", "/src/internal/pay/pay.go:40:1: missing return\n",
			[]Annotation{{"internal/pay/pay.go", 40, 1, "missing return"}}},
		{"ambiguous base name is left out", "util.go:1:1: syntax error\n", nil},
		{"file not in the repo is left out", "/usr/local/go/src/net/http/server.go:10:1: boom\n", nil},
		{"tsc paren style", "src/index.ts(12,5): error TS2322: Type 'string' is not assignable to type 'number'.\n",
			[]Annotation{{"src/index.ts", 12, 5, "error TS2322: Type 'string' is not assignable to type 'number'."}}},
		{"tsc pretty style", "src/index.ts:3:7 - error TS2304: Cannot find name 'x'.\n",
			[]Annotation{{"src/index.ts", 3, 7, "error TS2304: Cannot find name 'x'."}}},
		{"python traceback, innermost repo frame", "Traceback (most recent call last):\n  File \"/srv/app/main.py\", line 10, in <module>\n    main()\n  File \"/srv/app/db.py\", line 4, in connect\n    conn = psycopg.connect(url)\n  File \"/usr/lib/python3/dist-packages/psycopg/connection.py\", line 99, in connect\n    raise ex\npsycopg.OperationalError: connection refused\n",
			[]Annotation{{"app/db.py", 4, 0, "psycopg.OperationalError: connection refused"}}},
		{"python syntax error", "  File \"/app/main.py\", line 3\n    def f(\n         ^\nSyntaxError: '(' was never closed\n",
			[]Annotation{{"app/main.py", 3, 0, "SyntaxError: '(' was never closed"}}},
		{"duplicates collapse", "./main.go:1:1: x\n./main.go:1:1: x\n", []Annotation{{"main.go", 1, 1, "x"}}},
		{"nothing to point at", "npm ERR! code ENOENT\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := Annotations(c.log, files); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestAnnotationsAreCapped(t *testing.T) {
	t.Parallel()
	log := ""
	for i := 1; i <= 80; i++ {
		log += "./main.go:" + itoa(i) + ":1: x\n"
	}
	if got := len(Annotations(log, []string{"main.go"})); got != maxAnnotations {
		t.Fatalf("got %d annotations, want the cap %d", got, maxAnnotations)
	}
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }
